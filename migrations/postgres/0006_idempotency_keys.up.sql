-- Idempotency-Key records (per user, kept 24 h): the request's fingerprint and, once it finished,
-- the response to replay. `status` is null while the first request is still running.
create table idempotency_keys (
    user_id       uuid not null references users (id) on delete cascade,
    key           text not null check (char_length(key) between 1 and 255),
    request_hash  text not null,
    status        integer,
    headers       jsonb,
    body          bytea,
    created_at    timestamptz not null,
    expires_at    timestamptz not null,
    primary key (user_id, key)
);

create index idempotency_keys_expires_at_idx on idempotency_keys (expires_at);
