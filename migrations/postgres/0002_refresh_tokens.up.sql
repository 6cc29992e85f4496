-- Opaque refresh tokens, stored as SHA-256 digests. A family is one login's chain of rotations:
-- presenting a token that was already rotated revokes every token of its family.
create table refresh_tokens (
    id          uuid primary key,
    user_id     uuid not null references users (id) on delete cascade,
    family_id   uuid not null,
    token_hash  text not null,
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);

create unique index refresh_tokens_token_hash_key on refresh_tokens (token_hash);
create index refresh_tokens_user_id_idx on refresh_tokens (user_id);
create index refresh_tokens_family_id_idx on refresh_tokens (family_id);
create index refresh_tokens_expires_at_idx on refresh_tokens (expires_at);
