-- Accounts. Usernames and emails are unique case-insensitively (expression indexes), but the
-- spelling the user chose is kept. Roles are text checked against the policy table's names so a
-- new role is a migration, not a silent typo.
create table users (
    id                 uuid primary key,
    username           text not null check (char_length(username) between 3 and 50),
    email              text not null check (char_length(email) <= 254),
    password_hash      text not null,
    role               text not null check (role in ('admin', 'researcher', 'agent_manager', 'observer')),
    is_active          boolean not null default true,
    tokens_valid_after timestamptz not null,
    version            bigint not null default 1,
    created_at         timestamptz not null,
    updated_at         timestamptz not null
);

create unique index users_username_key on users (lower(username));
create unique index users_email_key on users (lower(email));
-- list filters; listing order is `id desc` (UUIDv7 = creation order), served by the primary key
create index users_role_idx on users (role, id desc);
create index users_is_active_idx on users (is_active, id desc);
