create table refresh_tokens (
    id          blob primary key not null,
    user_id     blob not null references users (id) on delete cascade,
    family_id   blob not null,
    token_hash  text not null unique,
    created_at  text not null,
    expires_at  text not null,
    rotated_at  text,
    revoked_at  text
) strict;

create index refresh_tokens_user_id_idx on refresh_tokens (user_id);
create index refresh_tokens_family_id_idx on refresh_tokens (family_id);
create index refresh_tokens_expires_at_idx on refresh_tokens (expires_at);
