-- Active-inference agents and their step history. `state` is the engine's agent state (beliefs,
-- last action, RNG) as JSON text: written on every step, read whole, never queried inside, so it is
-- text rather than jsonb (no parse on write). Listing order is `id desc` (UUIDv7 = creation order);
-- every filter has an index that serves that order.
create table agents (
    id                uuid primary key,
    owner_id          uuid not null references users (id) on delete cascade,
    name              text not null check (char_length(name) between 1 and 100),
    template          text not null,
    status            text not null check (status in ('pending', 'active', 'paused', 'stopped', 'error')),
    capabilities      jsonb not null default '[]'::jsonb,
    parameters        jsonb not null default '{}'::jsonb,
    gmn_spec          text,
    model_key         text not null,
    state             text not null,
    step_count        bigint not null default 0,
    total_step_micros bigint not null default 0,
    last_free_energy  double precision,
    last_active_at    timestamptz,
    version           bigint not null default 1,
    created_at        timestamptz not null,
    updated_at        timestamptz not null
);

create index agents_status_idx on agents (status, id desc);
create index agents_template_idx on agents (template, id desc);
create index agents_owner_idx on agents (owner_id, id desc);
-- name-prefix filter: a range on the name in byte order, whatever the database's collation
create index agents_name_idx on agents ((name collate "C"));

-- One row per step, pruned to AGENT_HISTORY_LIMIT per agent.
create table agent_steps (
    agent_id         uuid not null references agents (id) on delete cascade,
    seq              bigint not null,
    observation      jsonb not null,
    action           jsonb not null,
    free_energy      double precision not null,
    entropy          double precision not null,
    most_likely      jsonb not null,
    duration_micros  bigint not null,
    created_at       timestamptz not null,
    primary key (agent_id, seq)
);
