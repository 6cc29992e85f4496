create table audit_events (
    id          blob primary key not null,
    kind        text not null,
    user_id     blob references users (id) on delete set null,
    actor_id    blob references users (id) on delete set null,
    ip          text,
    detail      text not null default '{}',
    created_at  text not null
) strict;

create index audit_events_kind_idx on audit_events (kind, id desc);
create index audit_events_user_id_idx on audit_events (user_id, id desc);
