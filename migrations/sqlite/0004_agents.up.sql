-- Agents and their step history (SQLite twin of migrations/postgres/0004). JSON is text here.
create table agents (
    id                blob primary key not null,
    owner_id          blob not null references users (id) on delete cascade,
    name              text not null check (length(name) between 1 and 100),
    template          text not null,
    status            text not null check (status in ('pending', 'active', 'paused', 'stopped', 'error')),
    capabilities      text not null default '[]',
    parameters        text not null default '{}',
    gmn_spec          text,
    model_key         text not null,
    state             text not null,
    step_count        integer not null default 0,
    total_step_micros integer not null default 0,
    last_free_energy  real,
    last_active_at    text,
    version           integer not null default 1,
    created_at        text not null,
    updated_at        text not null
) strict;

create index agents_status_idx on agents (status, id desc);
create index agents_template_idx on agents (template, id desc);
create index agents_owner_idx on agents (owner_id, id desc);
create index agents_name_idx on agents (name);

create table agent_steps (
    agent_id         blob not null references agents (id) on delete cascade,
    seq              integer not null,
    observation      text not null,
    action           text not null,
    free_energy      real not null,
    entropy          real not null,
    most_likely      text not null,
    duration_micros  integer not null,
    created_at       text not null,
    primary key (agent_id, seq)
) strict;
