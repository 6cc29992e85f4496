-- Idempotency-Key records (SQLite twin of migrations/postgres/0006).
create table idempotency_keys (
    user_id       blob not null references users (id) on delete cascade,
    key           text not null check (length(key) between 1 and 255),
    request_hash  text not null,
    status        integer,
    headers       text,
    body          blob,
    created_at    text not null,
    expires_at    text not null,
    primary key (user_id, key)
) strict;

create index idempotency_keys_expires_at_idx on idempotency_keys (expires_at);
