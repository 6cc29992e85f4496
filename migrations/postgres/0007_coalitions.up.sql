-- Coalitions, their members and objectives. Every change to a coalition, its members or its
-- objectives bumps `coalitions.version` (the ETag of the whole resource) and is made under the
-- coalition's row lock (`for update`), taken after any agent row lock, so the membership rules
-- (one membership per agent and coalition, max size, COALITION_MAX_PER_AGENT) are decided on a
-- snapshot nobody else can change. Dissolved coalitions are kept for history (`dissolved_at`).
create table coalitions (
    id            uuid primary key,
    owner_id      uuid not null references users (id) on delete cascade,
    name          text not null check (char_length(name) between 1 and 100),
    description   text not null default '' check (char_length(description) <= 2000),
    status        text not null check (status in ('forming', 'active', 'disbanding', 'dissolved')),
    max_size      bigint not null check (max_size between 1 and 100),
    version       bigint not null default 1,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    dissolved_at  timestamptz
);

create index coalitions_status_idx on coalitions (status, id desc);
create index coalitions_owner_idx on coalitions (owner_id, id desc);

create table coalition_members (
    coalition_id  uuid not null references coalitions (id) on delete cascade,
    agent_id      uuid not null references agents (id) on delete cascade,
    role          text not null check (role in ('leader', 'coordinator', 'member', 'observer')),
    contribution  double precision not null check (contribution between 0 and 1),
    trust         double precision not null check (trust between 0 and 1),
    joined_at     timestamptz not null,
    primary key (coalition_id, agent_id)
);

-- the member filter of the list, and an agent's coalition count (its limit)
create index coalition_members_agent_idx on coalition_members (agent_id, coalition_id);
-- a coalition with members has exactly one leader
create unique index coalition_members_one_leader on coalition_members (coalition_id) where role = 'leader';

create table coalition_objectives (
    id                     uuid primary key,
    coalition_id           uuid not null references coalitions (id) on delete cascade,
    description            text not null check (char_length(description) between 1 and 1000),
    required_capabilities  jsonb not null default '[]'::jsonb,
    priority               double precision not null check (priority between 0 and 1),
    progress               double precision not null default 0 check (progress between 0 and 1),
    deadline               timestamptz,
    completed_at           timestamptz,
    created_at             timestamptz not null,
    updated_at             timestamptz not null
);

create index coalition_objectives_coalition_idx on coalition_objectives (coalition_id, id);
