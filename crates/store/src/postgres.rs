//! PostgreSQL, the system of record in production.
use crate::migrations;
use crate::model::PoolStats;
use crate::pg_pool::{Lease, PgPool};
use crate::traits::{Backend, Store};
use crate::write_batch::{BatchSettings, WriteBatcher};
use crate::{MigrationStatus, StoreError};
use agent_writes::PendingAgent;
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use std::sync::Arc;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    creates: WriteBatcher<PendingAgent, ()>,
}

/// The least time migrations wait for their connection (see `migration_pool`).
const MIGRATION_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Creates: up to 8 batches in flight (each holds a pooled connection; concurrent commits still
/// share PostgreSQL's WAL flush), of up to 32 creates (eight in a statement already cut
/// PostgreSQL's CPU per create to about 40 %; more mostly lengthens the commit they all wait for).
const CREATE_BATCH: BatchSettings = BatchSettings { operation: "create_agent", writers: 8, max_items: 32, queue: 1024 };

impl PgStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        let writer_pool = pool.clone();
        let creates = WriteBatcher::new(
            CREATE_BATCH,
            Arc::new(move |batch| Box::pin(agent_writes::insert_agents(writer_pool.clone(), batch))),
        );
        Self { pool, creates }
    }

    async fn writer(&self) -> Result<Lease, StoreError> {
        self.pool.acquire().await.map_err(Self::error)
    }

    async fn reader(&self) -> Result<Lease, StoreError> {
        self.writer().await
    }

    /// sqlx's migrator takes connections through its `Acquire` trait, which a `Lease` does not
    /// implement: migrations (rare, one at a time) get a one-connection sqlx pool of their own. It
    /// waits for its connection at least `MIGRATION_CONNECT_TIMEOUT`: `DATABASE_ACQUIRE_TIMEOUT_MS`
    /// bounds how long a request waits, and a start-up that gave up as soon (opening a connection
    /// to a busy server can take longer) would exit and restart instead of migrating.
    fn migration_pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.pool.settings().acquire_timeout.max(MIGRATION_CONNECT_TIMEOUT))
            .connect_lazy_with(self.pool.connect_options().clone())
    }

    fn error(error: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(error, |db| db.constraint().map(constraint_column))
    }
}

/// Our unique indexes are named `<table>_<column>_key`; report them as `table.column`, the form
/// SQLite uses, so callers see one vocabulary.
fn constraint_column(index: &str) -> String {
    const KNOWN: [(&str, &str); 3] = [
        ("users_username_key", "users.username"),
        ("users_email_key", "users.email"),
        ("refresh_tokens_token_hash_key", "refresh_tokens.token_hash"),
    ];
    KNOWN.iter().find(|(name, _)| *name == index).map_or_else(|| index.to_owned(), |(_, c)| (*c).to_owned())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&mut *self.reader().await?).await.map(drop).map_err(Self::error)
    }

    fn pool_stats(&self) -> PoolStats {
        let counts = self.pool.counts();
        PoolStats {
            size: counts.idle + counts.in_use,
            idle: counts.idle,
            in_use: counts.in_use,
            max: self.pool.settings().max,
        }
    }

    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError> {
        let pool = self.migration_pool();
        let applied = migrations::run(&MIGRATOR, &pool).await;
        pool.close().await;
        applied
    }

    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError> {
        let pool = self.migration_pool();
        let reverted = migrations::revert(&MIGRATOR, &pool).await;
        pool.close().await;
        reverted
    }

    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let pool = self.migration_pool();
        let status = migrations::status(&MIGRATOR, &pool).await;
        pool.close().await;
        status
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

crate::queries::impl_store_traits!(PgStore, crate::postgres::sql);
crate::agent_queries::impl_agent_traits!(PgStore, crate::postgres::agent_sql, sqlx::Postgres);
crate::coalition_queries::impl_coalition_traits!(PgStore, crate::postgres::coalition_sql, sqlx::Postgres);

mod sql {
    pub const INSERT_USER: &str = "insert into users (id, username, email, password_hash, role, is_active, \
        tokens_valid_after, version, created_at, updated_at) \
        values ($1, $2, $3, $4, $5, true, $6, 1, $6, $6) returning *";
    pub const USER_BY_ID: &str = "select * from users where id = $1";
    pub const USER_BY_LOGIN: &str =
        "select * from users where lower(username) = lower($1) or lower(email) = lower($1) limit 1";
    pub const LIST_USERS: &str = "select * from users \
        where ($1::text is null or role = $1) and ($2::boolean is null or is_active = $2) \
        and ($3::uuid is null or id < $3) order by id desc limit $4";
    pub const UPDATE_USER: &str = "update users set role = coalesce($2, role), \
        is_active = coalesce($3, is_active), password_hash = coalesce($4, password_hash), \
        tokens_valid_after = coalesce($5, tokens_valid_after), version = version + 1, updated_at = $6 \
        where id = $1 and ($7::bigint is null or version = $7) returning *";
    pub const COUNT_ADMINS: &str = "select count(*) from users where role = 'admin' and is_active";
    pub const INSERT_REFRESH_TOKEN: &str = "insert into refresh_tokens \
        (id, user_id, family_id, token_hash, created_at, expires_at) values ($1, $2, $3, $4, $5, $6) returning *";
    pub const REFRESH_TOKEN_BY_HASH: &str = "select * from refresh_tokens where token_hash = $1";
    pub const MARK_ROTATED: &str =
        "update refresh_tokens set rotated_at = $2 where id = $1 and rotated_at is null and revoked_at is null";
    pub const REVOKE_FAMILY: &str =
        "update refresh_tokens set revoked_at = $2 where family_id = $1 and revoked_at is null";
    pub const REVOKE_USER_TOKENS: &str =
        "update refresh_tokens set revoked_at = $2 where user_id = $1 and revoked_at is null";
    pub const DELETE_EXPIRED_REFRESH_TOKENS: &str = "delete from refresh_tokens where expires_at < $1";
    pub const INSERT_AUDIT_EVENT: &str = "insert into audit_events \
        (id, kind, user_id, actor_id, ip, detail, created_at) values ($1, $2, $3, $4, $5, $6, $7) returning *";
    pub const LIST_AUDIT_EVENTS: &str = "select * from audit_events \
        where ($1::text is null or kind = $1) and ($2::uuid is null or user_id = $2) \
        and ($3::uuid is null or id < $3) order by id desc limit $4";
}

mod agent_sql {
    use crate::agent_queries::agent_columns;
    use crate::rows::joined_user_columns;

    /// Agents and their outbox events in one statement, one row per array element: one round
    /// trip and one commit for a whole batch of creates (`write_batch.rs`).
    pub const INSERT_AGENTS: &str = "with agent as (insert into agents (id, owner_id, name, template, status, \
        capabilities, parameters, gmn_spec, model_key, state, created_at, updated_at) \
        select id, owner_id, name, template, status, capabilities::jsonb, parameters::jsonb, gmn_spec, \
        model_key, state, at, at from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[]) \
        as new (id, owner_id, name, template, status, capabilities, parameters, gmn_spec, model_key, state, at) \
        returning id), \
        event as (insert into events (id, topic, kind, payload, created_at) \
        select id, topic, kind, payload::jsonb, at from unnest($12::uuid[], $13::text[], $14::text[], \
        $15::text[], $11::timestamptz[]) as new (id, topic, kind, payload, at)) \
        select count(*) from agent";
    pub const AGENT_BY_ID: &str = concat!("select ", agent_columns!(), " from agents where id = $1");
    /// The account and one agent in one round trip (an authenticated read of an agent when the
    /// caches are bypassed): no row without the account; the agent's columns null without it.
    pub const USER_AND_AGENT: &str = concat!(
        "select ",
        joined_user_columns!(),
        ", a.* from users u left join (select ",
        agent_columns!(),
        " from agents where id = $2) a on true where u.id = $1"
    );
    pub const AGENT_WITH_STATE_BY_ID: &str = concat!("select ", agent_columns!(), ", state from agents where id = $1");
    // one listing, with or without the state
    macro_rules! listing {
        ($columns:expr) => {
            concat!(
                "select ",
                $columns,
                " from agents \
        where ($1::text is null or status = $1) and ($2::text is null or template = $2) \
        and ($3::uuid is null or owner_id = $3) \
        and ($4::text is null or (name collate \"C\" >= $4 and ($5::text is null or name collate \"C\" < $5))) \
        and ($6::uuid is null or id < $6) order by id desc limit $7"
            )
        };
    }
    pub const LIST_AGENTS: &str = listing!(agent_columns!());
    pub const LIST_AGENTS_WITH_STATE: &str = listing!(concat!(agent_columns!(), ", state"));
    pub const UPDATE_AGENT: &str = concat!(
        "update agents set name = coalesce($2, name), \
        capabilities = coalesce($3, capabilities), status = coalesce($4, status), \
        version = version + 1, updated_at = $5 \
        where id = $1 and ($6::bigint is null or version = $6) returning ",
        agent_columns!()
    );
    pub const DELETE_AGENT: &str = concat!("delete from agents where id = $1 returning ", agent_columns!());
    /// A step in one statement: the agent's new state if it is still at version $6, its history
    /// record, the pruning of history beyond $11 steps, and the outbox event. No row back when the
    /// version moved on (or the agent is gone): then nothing else was written either.
    pub const STEP_AGENT: &str = "with agent as (update agents set state = $2, step_count = step_count + 1, \
        total_step_micros = total_step_micros + $3, last_free_energy = $4, last_active_at = $5, \
        version = version + 1, updated_at = $5 where id = $1 and version = $6 returning id, step_count), \
        step as (insert into agent_steps (agent_id, seq, observation, action, free_energy, entropy, \
        most_likely, duration_micros, created_at) select id, step_count, $7, $8, $4, $9, $10, $3, $5 from agent), \
        pruned as (delete from agent_steps where agent_id = $1 \
        and seq <= (select step_count from agent) - $11), \
        event as (insert into events (id, topic, kind, payload, created_at) \
        select $12, $13, $14, $15, $5 from agent) \
        select id from agent";
    pub const LIST_STEPS: &str = "select * from agent_steps where agent_id = $1 \
        and ($2::bigint is null or seq < $2) order by seq desc limit $3";
    pub const COUNT_AGENTS_BY_STATUS: &str = "select status, count(*) from agents group by status";
    pub const AGENT_TOTALS: &str = "select coalesce(sum(step_count), 0)::bigint as steps, avg(last_free_energy) as mean_last_free_energy from agents";
    pub const INSERT_EVENT: &str =
        "insert into events (id, topic, kind, payload, created_at) values ($1, $2, $3, $4, $5)";
    /// Inserts the claim, or takes over an expired record; touches nothing live.
    pub const CLAIM_IDEMPOTENCY_KEY: &str = "insert into idempotency_keys \
        (user_id, key, request_hash, created_at, expires_at) values ($1, $2, $3, $4, $5) \
        on conflict (user_id, key) do update set request_hash = excluded.request_hash, status = null, \
        headers = null, body = null, created_at = excluded.created_at, expires_at = excluded.expires_at \
        where idempotency_keys.expires_at <= excluded.created_at";
    pub const IDEMPOTENCY_KEY: &str = "select request_hash, status, headers, body, created_at, expires_at \
        from idempotency_keys where user_id = $1 and key = $2";
    pub const FINISH_IDEMPOTENCY_KEY: &str = "update idempotency_keys set status = $3, headers = $4, body = $5 \
        where user_id = $1 and key = $2";
    pub const ABANDON_IDEMPOTENCY_KEY: &str =
        "delete from idempotency_keys where user_id = $1 and key = $2 and status is null";
    pub const UNPUBLISHED_EVENTS: &str = "select *, false as published from events \
        where seq is null or seq > (select published_through from event_relay) order by id limit $1";
    pub const DELETE_EXPIRED_IDEMPOTENCY_KEYS: &str = "delete from idempotency_keys where expires_at < $1";
    /// By id: ids are time-ordered, and `$1` is the first id of the cut-off's millisecond.
    pub const DELETE_EVENTS_BEFORE: &str = "delete from events where id < $1";
}

mod coalition_sql {
    pub const COALITION_BY_ID: &str = "select c.*, \
        (select count(*) from coalition_members m where m.coalition_id = c.id) as member_count \
        from coalitions c where c.id = $1";
    pub const LIST_COALITIONS: &str = "select c.*, \
        (select count(*) from coalition_members m where m.coalition_id = c.id) as member_count \
        from coalitions c where ($1::text is null or c.status = $1) \
        and ($2::uuid is null or c.owner_id = $2) \
        and ($3::uuid is null or exists \
            (select 1 from coalition_members m where m.coalition_id = c.id and m.agent_id = $3)) \
        and ($4::uuid is null or c.id < $4) order by c.id desc limit $5";
    pub const MEMBERS_OF: &str = "select m.agent_id, m.role, m.contribution, m.trust, m.joined_at, \
        a.status as agent_status, a.capabilities from coalition_members m join agents a on a.id = m.agent_id \
        where m.coalition_id = $1 order by m.joined_at, m.agent_id";
    pub const OBJECTIVES_OF: &str = "select * from coalition_objectives where coalition_id = $1 order by id";
    pub const LOCK_COALITION: &str = "select id from coalitions where id = $1 for update";
    pub const LOCK_AGENT: &str = "select status from agents where id = $1 for update";
    pub const LOCK_AGENT_COALITIONS: &str = "select c.id from coalitions c \
        join coalition_members m on m.coalition_id = c.id \
        where m.agent_id = $1 and c.status <> 'dissolved' order by c.id for update of c";
    pub const AGENT_COALITION_COUNT: &str = "select count(*) from coalition_members m \
        join coalitions c on c.id = m.coalition_id where m.agent_id = $1 and c.status <> 'dissolved'";
    pub const INSERT_COALITION: &str = "insert into coalitions \
        (id, owner_id, name, description, status, max_size, created_at, updated_at) \
        values ($1, $2, $3, $4, $5, $6, $7, $7)";
    pub const UPDATE_COALITION: &str = "update coalitions set name = coalesce($2::text, name), \
        description = coalesce($3::text, description), max_size = coalesce($4::bigint, max_size), \
        status = coalesce($5::text, status), dissolved_at = coalesce($6::timestamptz, dissolved_at), \
        version = version + 1, updated_at = $7 where id = $1";
    pub const INSERT_MEMBER: &str = "insert into coalition_members \
        (coalition_id, agent_id, role, contribution, trust, joined_at) values ($1, $2, $3, $4, $5, $6)";
    pub const UPDATE_MEMBER: &str = "update coalition_members set role = coalesce($3::text, role), \
        contribution = coalesce($4::double precision, contribution), \
        trust = coalesce($5::double precision, trust) where coalition_id = $1 and agent_id = $2";
    pub const DELETE_MEMBER: &str = "delete from coalition_members where coalition_id = $1 and agent_id = $2";
    pub const INSERT_OBJECTIVE: &str = "insert into coalition_objectives (id, coalition_id, description, \
        required_capabilities, priority, progress, deadline, completed_at, created_at, updated_at) \
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
    pub const UPDATE_OBJECTIVE: &str = "update coalition_objectives set progress = $3, \
        priority = coalesce($4::double precision, priority), completed_at = $5, updated_at = $6 \
        where coalition_id = $1 and id = $2";
    pub const DELETE_OBJECTIVE: &str = "delete from coalition_objectives where coalition_id = $1 and id = $2";
    pub const CANDIDATE_BY_ID: &str = "select a.id, a.owner_id, a.status, a.capabilities, \
        (select count(*) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as memberships, \
        (select avg(m.trust) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as mean_trust \
        from agents a where a.id = $1";
    pub const ACTIVE_CANDIDATES: &str = "select a.id, a.owner_id, a.status, a.capabilities, \
        (select count(*) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as memberships, \
        (select avg(m.trust) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as mean_trust \
        from agents a where a.status = 'active' and ($1::uuid is null or a.owner_id = $1) \
        order by a.id limit $2";
    pub const COUNT_COALITIONS_BY_STATUS: &str = "select status, count(*) from coalitions group by status";
}

crate::relay_queries::impl_relay_store!(PgStore, crate::postgres::relay_sql);
crate::settings_queries::impl_settings_store!(PgStore, crate::postgres::settings_sql);

mod relay_sql {
    pub const ANY_UNPUBLISHED: &str = "select exists (select 1 from events where seq is null) \
        or exists (select 1 from events where seq > (select published_through from event_relay))";
    /// One numbering transaction at a time across replicas; released at commit (so it also works
    /// through a transaction-mode pooler).
    pub const LOCK_RELAY: &str = "select pg_advisory_xact_lock(7140001)";
    /// Keeps the sequence past the bus's newest id (a database restored from a backup must not
    /// hand out numbers the bus already holds); answers 0: the sequence numbers by itself.
    pub const NUMBER_FROM: &str = "select (case when $1 >= (select last_value from events_seq_seq) \
        then setval('events_seq_seq', $1) * 0 else 0 end)::bigint";
    /// Numbers in id order: the inner query is sorted before `nextval` runs over its rows.
    pub const NUMBER_EVENTS: &str = "update events set seq = numbered.seq + $2 from (\
        select id, nextval('events_seq_seq') as seq from (\
        select id from events where seq is null order by id limit $1 for update) batch) numbered \
        where events.id = numbered.id";
    pub const NUMBERED_UNPUBLISHED: &str = "select *, false as published from events \
        where seq > (select published_through from event_relay) order by seq limit $1";
    /// Moves the relay's position forward only (a slower relay never moves it back).
    pub const MARK_PUBLISHED: &str = "update event_relay set published_through = $1 where published_through < $1";
    pub const TOPIC_EVENTS: &str = "select events.*, coalesce(seq <= published_through, false) as published \
        from events cross join event_relay where topic = $1 order by events.id limit $2";
}

mod settings_sql {
    pub const USER_SETTINGS: &str = "select * from user_settings where user_id = $1";
    /// The first write; a concurrent first write makes it return nothing (version mismatch).
    pub const INSERT_USER_SETTINGS: &str = "insert into user_settings (user_id, llm_provider, llm_model, \
        gnn_enabled, debug_logs, auto_suggest, openai_api_key, anthropic_api_key, version, updated_at) \
        values ($1, $2, $3, $4, $5, $6, $7, $8, $10 + 1, $9) \
        on conflict (user_id) do nothing returning *";
    pub const UPDATE_USER_SETTINGS: &str = "update user_settings set llm_provider = $2, llm_model = $3, \
        gnn_enabled = $4, debug_logs = $5, auto_suggest = $6, openai_api_key = $7, \
        anthropic_api_key = $8, version = version + 1, updated_at = $9 \
        where user_id = $1 and version = $10 returning *";
}

/// Agent writes with their outbox event, each one statement: a round trip and a commit cost the
/// service and PostgreSQL more than a small write itself (docs/PERFORMANCE.md), so creates that
/// arrive together also share one statement and one commit (`write_batch.rs`). Steps do not: most
/// of what a step costs PostgreSQL is its own row (the state it rewrites), and fewer concurrent
/// step transactions measured slower. The row is built in memory (`Agent::pending`,
/// `Agent::stepped`) so the event can be rendered before the statement runs; the conformance suite
/// checks it equals the row read back.
mod agent_writes {
    use super::{PgStore, agent_sql as sql};
    use crate::StoreError;
    use crate::agents::{Agent, AgentWithState, NewAgent, StepWrite, stored_now};
    use crate::events::{EventFor, NewEvent};
    use crate::pg_pool::PgPool;
    use freeagentics_core::new_id;
    use sqlx::types::Json;
    use std::sync::Arc;
    use uuid::Uuid;

    impl PgStore {
        /// Queues the agent for the next batch of creates (`insert_agents`) and waits for it.
        pub(crate) async fn insert_agent(
            &self,
            new: NewAgent,
            event: EventFor<'_, Agent>,
        ) -> Result<Agent, StoreError> {
            let now = stored_now();
            let AgentWithState { agent, state } = Agent::pending(new, now);
            let event = event(&agent);
            self.creates.write(PendingAgent { agent: agent.clone(), state, event_id: new_id(), event }).await?;
            Ok(agent)
        }

        pub(crate) async fn write_step(
            &self,
            write: StepWrite,
            event: EventFor<'_, Agent>,
        ) -> Result<Agent, StoreError> {
            let now = stored_now();
            let agent = write.previous.stepped(&write, now);
            let event = event(&agent);
            let written = sqlx::query_as::<_, (Uuid,)>(sql::STEP_AGENT)
                .bind(agent.id)
                .bind(&write.state)
                .bind(write.duration_micros)
                .bind(write.free_energy)
                .bind(now)
                .bind(write.previous.version)
                .bind(Json(&write.observation))
                .bind(Json(&write.action))
                .bind(write.entropy)
                .bind(Json(&write.most_likely))
                .bind(i64::from(write.history_limit.max(1)))
                .bind(new_id())
                .bind(&event.topic)
                .bind(&event.kind)
                .bind(Json(&event.payload))
                .fetch_optional(&mut *self.writer().await?)
                .await
                .map_err(Self::error)?;
            match written {
                Some(_) => Ok(agent),
                None => Err(self.version_or_missing(agent.id).await),
            }
        }
    }

    /// A create waiting for its batch: the row and its event, rendered.
    #[derive(Debug)]
    pub(crate) struct PendingAgent {
        agent: Agent,
        state: String,
        event_id: Uuid,
        event: NewEvent,
    }

    /// Writes a batch of creates with `INSERT_AGENTS`, all or none.
    pub(crate) async fn insert_agents(pool: PgPool, batch: Vec<Arc<PendingAgent>>) -> Result<Vec<()>, StoreError> {
        let mut ids = Vec::with_capacity(batch.len());
        let mut owners = Vec::with_capacity(batch.len());
        let mut names = Vec::with_capacity(batch.len());
        let mut templates = Vec::with_capacity(batch.len());
        let mut statuses = Vec::with_capacity(batch.len());
        let mut capabilities = Vec::with_capacity(batch.len());
        let mut parameters = Vec::with_capacity(batch.len());
        let mut specs = Vec::with_capacity(batch.len());
        let mut model_keys = Vec::with_capacity(batch.len());
        let mut states = Vec::with_capacity(batch.len());
        let mut times = Vec::with_capacity(batch.len());
        let mut event_ids = Vec::with_capacity(batch.len());
        let mut topics = Vec::with_capacity(batch.len());
        let mut kinds = Vec::with_capacity(batch.len());
        let mut payloads = Vec::with_capacity(batch.len());
        for pending in &batch {
            let PendingAgent { agent, state, event_id, event } = pending.as_ref();
            ids.push(agent.id);
            owners.push(agent.owner_id);
            names.push(agent.name.as_str());
            templates.push(agent.template.as_str());
            statuses.push(agent.status.as_str());
            capabilities.push(serde_json::to_string(&agent.capabilities).map_err(StoreError::other)?);
            parameters.push(agent.parameters.to_string());
            specs.push(agent.gmn_spec.as_deref());
            model_keys.push(agent.model_key.as_str());
            states.push(state.as_str());
            times.push(agent.created_at);
            event_ids.push(*event_id);
            topics.push(event.topic.as_str());
            kinds.push(event.kind.as_str());
            payloads.push(event.payload.to_string());
        }
        let (written,) = sqlx::query_as::<_, (i64,)>(sql::INSERT_AGENTS)
            .bind(ids)
            .bind(owners)
            .bind(names)
            .bind(templates)
            .bind(statuses)
            .bind(capabilities)
            .bind(parameters)
            .bind(specs)
            .bind(model_keys)
            .bind(states)
            .bind(times)
            .bind(event_ids)
            .bind(topics)
            .bind(kinds)
            .bind(payloads)
            .fetch_one(&mut *pool.acquire().await.map_err(PgStore::error)?)
            .await
            .map_err(PgStore::error)?;
        if usize::try_from(written).ok() != Some(batch.len()) {
            return Err(StoreError::other(format!("{written} of a batch of {} agents written", batch.len())));
        }
        Ok(vec![(); batch.len()])
    }
}
