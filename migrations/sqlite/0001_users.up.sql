-- Accounts (SQLite twin of migrations/postgres/0001). NOCASE makes the unique constraints
-- case-insensitive for ASCII, which is all a username may contain; emails are stored lowercased.
create table users (
    id                 blob primary key not null,
    username           text not null collate nocase unique check (length(username) between 3 and 50),
    email              text not null collate nocase unique check (length(email) <= 254),
    password_hash      text not null,
    role               text not null check (role in ('admin', 'researcher', 'agent_manager', 'observer')),
    is_active          integer not null default 1,
    tokens_valid_after text not null,
    version            integer not null default 1,
    created_at         text not null,
    updated_at         text not null
) strict;

create index users_role_idx on users (role, id desc);
create index users_is_active_idx on users (is_active, id desc);
