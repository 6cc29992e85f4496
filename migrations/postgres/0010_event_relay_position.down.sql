-- Back to marking each row: what the relay published (up to its position) is marked now.
update events set published_at = now()
    where published_at is null and seq <= (select published_through from event_relay);
create index events_created_at_idx on events (created_at);
drop index events_unnumbered_idx;
drop table event_relay;
