-- Coalitions, members and objectives (SQLite twin of migrations/postgres/0007). The one writer
-- connection serialises every change, which is what the row locks do on PostgreSQL.
create table coalitions (
    id            blob primary key not null,
    owner_id      blob not null references users (id) on delete cascade,
    name          text not null check (length(name) between 1 and 100),
    description   text not null default '' check (length(description) <= 2000),
    status        text not null check (status in ('forming', 'active', 'disbanding', 'dissolved')),
    max_size      integer not null check (max_size between 1 and 100),
    version       integer not null default 1,
    created_at    text not null,
    updated_at    text not null,
    dissolved_at  text
) strict;

create index coalitions_status_idx on coalitions (status, id desc);
create index coalitions_owner_idx on coalitions (owner_id, id desc);

create table coalition_members (
    coalition_id  blob not null references coalitions (id) on delete cascade,
    agent_id      blob not null references agents (id) on delete cascade,
    role          text not null check (role in ('leader', 'coordinator', 'member', 'observer')),
    contribution  real not null check (contribution between 0 and 1),
    trust         real not null check (trust between 0 and 1),
    joined_at     text not null,
    primary key (coalition_id, agent_id)
) strict;

create index coalition_members_agent_idx on coalition_members (agent_id, coalition_id);
create unique index coalition_members_one_leader on coalition_members (coalition_id) where role = 'leader';

create table coalition_objectives (
    id                     blob primary key not null,
    coalition_id           blob not null references coalitions (id) on delete cascade,
    description            text not null check (length(description) between 1 and 1000),
    required_capabilities  text not null default '[]',
    priority               real not null check (priority between 0 and 1),
    progress               real not null default 0 check (progress between 0 and 1),
    deadline               text,
    completed_at           text,
    created_at             text not null,
    updated_at             text not null
) strict;

create index coalition_objectives_coalition_idx on coalition_objectives (coalition_id, id);
