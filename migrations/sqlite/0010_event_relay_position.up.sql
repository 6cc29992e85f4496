-- The twin of migrations/postgres/0010: the relay's position in one row instead of marking each
-- published event; `published_at` and its index stay for the previous release (expand only).
create table event_relay (
    id                 integer primary key check (id = 1),
    published_through  integer not null
) strict;

insert into event_relay (id, published_through)
    select 1, coalesce(max(seq), 0) from events where published_at is not null;

create index events_unnumbered_idx on events (id) where seq is null;
drop index events_created_at_idx;
