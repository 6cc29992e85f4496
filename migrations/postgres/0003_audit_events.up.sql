-- Security events (OWASP logging): who did what, from where. Never passwords or tokens.
-- Subjects may be deleted later; their events stay, with the reference cleared.
create table audit_events (
    id          uuid primary key,
    kind        text not null,
    user_id     uuid references users (id) on delete set null,
    actor_id    uuid references users (id) on delete set null,
    ip          text,
    detail      jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null
);

create index audit_events_kind_idx on audit_events (kind, id desc);
create index audit_events_user_id_idx on audit_events (user_id, id desc);
