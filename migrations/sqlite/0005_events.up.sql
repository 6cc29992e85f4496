-- The outbox (SQLite twin of migrations/postgres/0005); `seq` is assigned by the one writer.
create table events (
    id            blob primary key not null,
    topic         text not null,
    kind          text not null,
    payload       text not null,
    created_at    text not null,
    seq           integer unique,
    published_at  text
) strict;

create index events_unpublished_idx on events (id) where published_at is null;
create index events_created_at_idx on events (created_at);
