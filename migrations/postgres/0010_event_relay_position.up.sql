-- The relay's place in the outbox: every numbered event up to `published_through` is on the bus.
-- Publishing moves this one row instead of updating every published event (a third write of each
-- row, never HOT), and retention prunes by the time-ordered id instead of a created_at index.
--
-- Expand only: `published_at` and its index stay, unused by this release, so that the previous
-- release (which still reads and marks them) works against this schema after a rollback; the
-- release after next drops them.
create table event_relay (
    id                 smallint primary key check (id = 1),
    published_through  bigint not null
);

-- everything numbered so far that the previous release marked is published
insert into event_relay (id, published_through)
    select 1, coalesce(max(seq), 0) from events where published_at is not null;

-- what the relay has still to number, in order
create index events_unnumbered_idx on events (id) where seq is null;
drop index events_created_at_idx;
