alter table agents alter column state set compression default;
create index events_seq_idx on events (seq) where seq is not null;
