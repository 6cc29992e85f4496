-- The outbox: one row per committed change, written in the change's transaction, carrying the
-- resource as the REST API renders it; pruned after EVENTS_RETENTION_SECONDS. `seq` (the row's
-- place in the event stream) and `published_at` are set by whatever publishes it.
create table events (
    id            uuid primary key,
    topic         text not null,
    kind          text not null,
    payload       jsonb not null,
    created_at    timestamptz not null,
    seq           bigint unique,
    published_at  timestamptz
);

-- what the relay has still to do, in order
create index events_unpublished_idx on events (id) where published_at is null;
create index events_seq_idx on events (seq) where seq is not null;
create index events_created_at_idx on events (created_at);
create sequence events_seq_seq;
