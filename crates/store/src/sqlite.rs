//! SQLite, the zero-setup embedded store. Writes go through a one-connection pool (WAL allows one
//! writer; queuing in the pool beats SQLITE_BUSY), reads through a small read-only pool.
use crate::migrations;
use crate::model::PoolStats;
use crate::traits::{Backend, Store};
use crate::{MigrationStatus, StoreError};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    read: SqlitePool,
    max: u32,
}

impl SqliteStore {
    pub(crate) fn new(write: SqlitePool, read: SqlitePool, max: u32) -> Self {
        Self { write, read, max }
    }

    async fn writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.write.acquire().await.map_err(Self::error)
    }

    async fn reader(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.read.acquire().await.map_err(Self::error)
    }

    /// SQLite names no constraint; its message does: "UNIQUE constraint failed: users.email".
    fn error(error: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(error, |db| {
            db.message()
                .rsplit_once(": ")
                .map(|(_, columns)| columns.split(',').next().unwrap_or(columns).trim().to_owned())
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.read).await.map(drop).map_err(Self::error)
    }

    fn pool_stats(&self) -> PoolStats {
        let size = self.write.size() + self.read.size();
        let idle = u32::try_from(self.write.num_idle() + self.read.num_idle()).unwrap_or(u32::MAX).min(size);
        PoolStats { size, idle, in_use: size - idle, max: self.max }
    }

    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError> {
        migrations::run(&MIGRATOR, &self.write).await
    }

    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError> {
        migrations::revert(&MIGRATOR, &self.write).await
    }

    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        migrations::status(&MIGRATOR, &self.write).await
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

crate::queries::impl_store_traits!(SqliteStore, crate::sqlite::sql);
crate::agent_queries::impl_agent_traits!(SqliteStore, crate::sqlite::agent_sql, sqlx::Sqlite);
crate::coalition_queries::impl_coalition_traits!(SqliteStore, crate::sqlite::coalition_sql, sqlx::Sqlite);

mod sql {
    pub const INSERT_USER: &str = "insert into users (id, username, email, password_hash, role, is_active, \
        tokens_valid_after, version, created_at, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, 1, ?6, 1, ?6, ?6) returning *";
    pub const USER_BY_ID: &str = "select * from users where id = ?1";
    // username and email are COLLATE NOCASE columns: `=` compares case-insensitively
    pub const USER_BY_LOGIN: &str = "select * from users where username = ?1 or email = ?1 limit 1";
    pub const LIST_USERS: &str = "select * from users \
        where (?1 is null or role = ?1) and (?2 is null or is_active = ?2) \
        and (?3 is null or id < ?3) order by id desc limit ?4";
    pub const UPDATE_USER: &str = "update users set role = coalesce(?2, role), \
        is_active = coalesce(?3, is_active), password_hash = coalesce(?4, password_hash), \
        tokens_valid_after = coalesce(?5, tokens_valid_after), version = version + 1, updated_at = ?6 \
        where id = ?1 and (?7 is null or version = ?7) returning *";
    pub const COUNT_ADMINS: &str = "select count(*) from users where role = 'admin' and is_active = 1";
    pub const INSERT_REFRESH_TOKEN: &str = "insert into refresh_tokens \
        (id, user_id, family_id, token_hash, created_at, expires_at) values (?1, ?2, ?3, ?4, ?5, ?6) returning *";
    pub const REFRESH_TOKEN_BY_HASH: &str = "select * from refresh_tokens where token_hash = ?1";
    pub const MARK_ROTATED: &str =
        "update refresh_tokens set rotated_at = ?2 where id = ?1 and rotated_at is null and revoked_at is null";
    pub const REVOKE_FAMILY: &str =
        "update refresh_tokens set revoked_at = ?2 where family_id = ?1 and revoked_at is null";
    pub const REVOKE_USER_TOKENS: &str =
        "update refresh_tokens set revoked_at = ?2 where user_id = ?1 and revoked_at is null";
    pub const DELETE_EXPIRED_REFRESH_TOKENS: &str = "delete from refresh_tokens where expires_at < ?1";
    pub const INSERT_AUDIT_EVENT: &str = "insert into audit_events \
        (id, kind, user_id, actor_id, ip, detail, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) returning *";
    pub const LIST_AUDIT_EVENTS: &str = "select * from audit_events \
        where (?1 is null or kind = ?1) and (?2 is null or user_id = ?2) \
        and (?3 is null or id < ?3) order by id desc limit ?4";
}

mod agent_sql {
    use crate::agent_queries::agent_columns;
    use crate::rows::joined_user_columns;

    pub const INSERT_AGENT: &str = concat!(
        "insert into agents (id, owner_id, name, template, status, capabilities, \
        parameters, gmn_spec, model_key, state, created_at, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) returning ",
        agent_columns!()
    );
    pub const AGENT_BY_ID: &str = concat!("select ", agent_columns!(), " from agents where id = ?1");
    /// The account and one agent in one round trip (an authenticated read of an agent when the
    /// caches are bypassed): no row without the account; the agent's columns null without it.
    pub const USER_AND_AGENT: &str = concat!(
        "select ",
        joined_user_columns!(),
        ", a.* from users u left join (select ",
        agent_columns!(),
        " from agents where id = ?2) a on true where u.id = ?1"
    );
    pub const AGENT_WITH_STATE_BY_ID: &str = concat!("select ", agent_columns!(), ", state from agents where id = ?1");
    // one listing, with or without the state; BINARY collation: byte order, so the range is
    // exactly the names with the prefix
    macro_rules! listing {
        ($columns:expr) => {
            concat!(
                "select ",
                $columns,
                " from agents \
        where (?1 is null or status = ?1) and (?2 is null or template = ?2) \
        and (?3 is null or owner_id = ?3) \
        and (?4 is null or (name >= ?4 and (?5 is null or name < ?5))) \
        and (?6 is null or id < ?6) order by id desc limit ?7"
            )
        };
    }
    pub const LIST_AGENTS: &str = listing!(agent_columns!());
    pub const LIST_AGENTS_WITH_STATE: &str = listing!(concat!(agent_columns!(), ", state"));
    pub const UPDATE_AGENT: &str = concat!(
        "update agents set name = coalesce(?2, name), \
        capabilities = coalesce(?3, capabilities), status = coalesce(?4, status), \
        version = version + 1, updated_at = ?5 \
        where id = ?1 and (?6 is null or version = ?6) returning ",
        agent_columns!()
    );
    pub const DELETE_AGENT: &str = concat!("delete from agents where id = ?1 returning ", agent_columns!());
    pub const STEP_AGENT: &str = concat!(
        "update agents set state = ?2, step_count = step_count + 1, \
        total_step_micros = total_step_micros + ?3, last_free_energy = ?4, last_active_at = ?5, \
        version = version + 1, updated_at = ?5 where id = ?1 and version = ?6 returning ",
        agent_columns!()
    );
    pub const INSERT_STEP: &str = "insert into agent_steps (agent_id, seq, observation, action, free_energy, \
        entropy, most_likely, duration_micros, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    pub const PRUNE_STEPS: &str = "delete from agent_steps where agent_id = ?1 and seq < ?2";
    pub const LIST_STEPS: &str = "select * from agent_steps where agent_id = ?1 \
        and (?2 is null or seq < ?2) order by seq desc limit ?3";
    pub const COUNT_AGENTS_BY_STATUS: &str = "select status, count(*) from agents group by status";
    pub const AGENT_TOTALS: &str =
        "select coalesce(sum(step_count), 0) as steps, avg(last_free_energy) as mean_last_free_energy from agents";
    pub const INSERT_EVENT: &str =
        "insert into events (id, topic, kind, payload, created_at) values (?1, ?2, ?3, ?4, ?5)";
    pub const CLAIM_IDEMPOTENCY_KEY: &str = "insert into idempotency_keys \
        (user_id, key, request_hash, created_at, expires_at) values (?1, ?2, ?3, ?4, ?5) \
        on conflict (user_id, key) do update set request_hash = excluded.request_hash, status = null, \
        headers = null, body = null, created_at = excluded.created_at, expires_at = excluded.expires_at \
        where idempotency_keys.expires_at <= excluded.created_at";
    pub const IDEMPOTENCY_KEY: &str = "select request_hash, status, headers, body, created_at, expires_at \
        from idempotency_keys where user_id = ?1 and key = ?2";
    pub const FINISH_IDEMPOTENCY_KEY: &str = "update idempotency_keys set status = ?3, headers = ?4, body = ?5 \
        where user_id = ?1 and key = ?2";
    pub const ABANDON_IDEMPOTENCY_KEY: &str =
        "delete from idempotency_keys where user_id = ?1 and key = ?2 and status is null";
    pub const UNPUBLISHED_EVENTS: &str = "select *, false as published from events \
        where seq is null or seq > (select published_through from event_relay) order by id limit ?1";
    pub const DELETE_EXPIRED_IDEMPOTENCY_KEYS: &str = "delete from idempotency_keys where expires_at < ?1";
    /// By id: ids are time-ordered, and `?1` is the first id of the cut-off's millisecond.
    pub const DELETE_EVENTS_BEFORE: &str = "delete from events where id < ?1";
}

mod coalition_sql {
    pub const COALITION_BY_ID: &str = "select c.*, \
        (select count(*) from coalition_members m where m.coalition_id = c.id) as member_count \
        from coalitions c where c.id = ?1";
    pub const LIST_COALITIONS: &str = "select c.*, \
        (select count(*) from coalition_members m where m.coalition_id = c.id) as member_count \
        from coalitions c where (?1 is null or c.status = ?1) \
        and (?2 is null or c.owner_id = ?2) \
        and (?3 is null or exists \
            (select 1 from coalition_members m where m.coalition_id = c.id and m.agent_id = ?3)) \
        and (?4 is null or c.id < ?4) order by c.id desc limit ?5";
    pub const MEMBERS_OF: &str = "select m.agent_id, m.role, m.contribution, m.trust, m.joined_at, \
        a.status as agent_status, a.capabilities from coalition_members m join agents a on a.id = m.agent_id \
        where m.coalition_id = ?1 order by m.joined_at, m.agent_id";
    pub const OBJECTIVES_OF: &str = "select * from coalition_objectives where coalition_id = ?1 order by id";
    pub const LOCK_COALITION: &str = "select id from coalitions where id = ?1";
    pub const LOCK_AGENT: &str = "select status from agents where id = ?1";
    pub const LOCK_AGENT_COALITIONS: &str = "select c.id from coalitions c \
        join coalition_members m on m.coalition_id = c.id \
        where m.agent_id = ?1 and c.status <> 'dissolved' order by c.id";
    pub const AGENT_COALITION_COUNT: &str = "select count(*) from coalition_members m \
        join coalitions c on c.id = m.coalition_id where m.agent_id = ?1 and c.status <> 'dissolved'";
    pub const INSERT_COALITION: &str = "insert into coalitions \
        (id, owner_id, name, description, status, max_size, created_at, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";
    pub const UPDATE_COALITION: &str = "update coalitions set name = coalesce(?2, name), \
        description = coalesce(?3, description), max_size = coalesce(?4, max_size), \
        status = coalesce(?5, status), dissolved_at = coalesce(?6, dissolved_at), \
        version = version + 1, updated_at = ?7 where id = ?1";
    pub const INSERT_MEMBER: &str = "insert into coalition_members \
        (coalition_id, agent_id, role, contribution, trust, joined_at) values (?1, ?2, ?3, ?4, ?5, ?6)";
    pub const UPDATE_MEMBER: &str = "update coalition_members set role = coalesce(?3, role), \
        contribution = coalesce(?4, contribution), \
        trust = coalesce(?5, trust) where coalition_id = ?1 and agent_id = ?2";
    pub const DELETE_MEMBER: &str = "delete from coalition_members where coalition_id = ?1 and agent_id = ?2";
    pub const INSERT_OBJECTIVE: &str = "insert into coalition_objectives (id, coalition_id, description, \
        required_capabilities, priority, progress, deadline, completed_at, created_at, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)";
    pub const UPDATE_OBJECTIVE: &str = "update coalition_objectives set progress = ?3, \
        priority = coalesce(?4, priority), completed_at = ?5, updated_at = ?6 \
        where coalition_id = ?1 and id = ?2";
    pub const DELETE_OBJECTIVE: &str = "delete from coalition_objectives where coalition_id = ?1 and id = ?2";
    pub const CANDIDATE_BY_ID: &str = "select a.id, a.owner_id, a.status, a.capabilities, \
        (select count(*) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as memberships, \
        (select avg(m.trust) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as mean_trust \
        from agents a where a.id = ?1";
    pub const ACTIVE_CANDIDATES: &str = "select a.id, a.owner_id, a.status, a.capabilities, \
        (select count(*) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as memberships, \
        (select avg(m.trust) from coalition_members m join coalitions c on c.id = m.coalition_id \
        where m.agent_id = a.id and c.status <> 'dissolved') as mean_trust \
        from agents a where a.status = 'active' and (?1 is null or a.owner_id = ?1) \
        order by a.id limit ?2";
    pub const COUNT_COALITIONS_BY_STATUS: &str = "select status, count(*) from coalitions group by status";
}

crate::relay_queries::impl_relay_store!(SqliteStore, crate::sqlite::relay_sql);
crate::settings_queries::impl_settings_store!(SqliteStore, crate::sqlite::settings_sql);

mod relay_sql {
    pub const ANY_UNPUBLISHED: &str = "select exists (select 1 from events where seq is null) \
        or exists (select 1 from events where seq > (select published_through from event_relay))";
    /// SQLite has one writer: the transaction alone serialises numbering.
    pub const LOCK_RELAY: &str = "select 1";
    /// New numbers follow every number in use and the bus's newest id (after retention deleted
    /// every row, `max(seq)` alone would start again below what the bus holds).
    pub const NUMBER_FROM: &str = "select max(coalesce((select max(seq) from events), 0), ?1)";
    pub const NUMBER_EVENTS: &str = "with batch as (\
        select id, row_number() over (order by id) as n from events where seq is null order by id limit ?1) \
        update events set seq = ?2 + (select n from batch where batch.id = events.id) \
        where id in (select id from batch)";
    pub const NUMBERED_UNPUBLISHED: &str = "select *, false as published from events \
        where seq > (select published_through from event_relay) order by seq limit ?1";
    /// Moves the relay's position forward only (a slower relay never moves it back).
    pub const MARK_PUBLISHED: &str = "update event_relay set published_through = ?1 where published_through < ?1";
    pub const TOPIC_EVENTS: &str = "select events.*, coalesce(seq <= published_through, false) as published \
        from events cross join event_relay where topic = ?1 order by events.id limit ?2";
}

mod settings_sql {
    pub const USER_SETTINGS: &str = "select * from user_settings where user_id = ?1";
    /// The first write; a concurrent first write makes it return nothing (version mismatch).
    pub const INSERT_USER_SETTINGS: &str = "insert into user_settings (user_id, llm_provider, llm_model, \
        gnn_enabled, debug_logs, auto_suggest, openai_api_key, anthropic_api_key, version, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10 + 1, ?9) \
        on conflict (user_id) do nothing returning *";
    pub const UPDATE_USER_SETTINGS: &str = "update user_settings set llm_provider = ?2, llm_model = ?3, \
        gnn_enabled = ?4, debug_logs = ?5, auto_suggest = ?6, openai_api_key = ?7, \
        anthropic_api_key = ?8, version = version + 1, updated_at = ?9 \
        where user_id = ?1 and version = ?10 returning *";
}

/// Agent writes with their outbox event: one transaction of several statements (SQLite runs in
/// process, so statements cost no round trip; it has no data-modifying `with`).
mod agent_writes {
    use super::{SqliteStore, agent_sql as sql};
    use crate::StoreError;
    use crate::agent_queries::AgentRow;
    use crate::agents::{Agent, NewAgent, StepWrite};
    use crate::events::EventFor;
    use freeagentics_core::AgentStatus;
    use sqlx::Connection as _;
    use sqlx::types::Json;
    use time::OffsetDateTime;

    impl SqliteStore {
        pub(crate) async fn insert_agent(
            &self,
            new: NewAgent,
            event: EventFor<'_, Agent>,
        ) -> Result<Agent, StoreError> {
            let now = OffsetDateTime::now_utc();
            let mut conn = self.writer().await?;
            let mut tx = conn.begin().await.map_err(Self::error)?;
            let agent: Agent = sqlx::query_as::<_, AgentRow>(sql::INSERT_AGENT)
                .bind(new.id)
                .bind(new.owner_id)
                .bind(&new.name)
                .bind(&new.template)
                .bind(AgentStatus::Pending.as_str())
                .bind(Json(&new.capabilities))
                .bind(Json(&new.parameters))
                .bind(&new.gmn_spec)
                .bind(&new.model_key)
                .bind(&new.state)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(Self::error)?
                .try_into()?;
            Self::write_event(&mut *tx, event(&agent)).await?;
            tx.commit().await.map_err(Self::error)?;
            Ok(agent)
        }

        pub(crate) async fn write_step(
            &self,
            write: StepWrite,
            event: EventFor<'_, Agent>,
        ) -> Result<Agent, StoreError> {
            let now = OffsetDateTime::now_utc();
            let id = write.previous.id;
            let mut conn = self.writer().await?;
            let mut tx = conn.begin().await.map_err(Self::error)?;
            let row = sqlx::query_as::<_, AgentRow>(sql::STEP_AGENT)
                .bind(id)
                .bind(&write.state)
                .bind(write.duration_micros)
                .bind(write.free_energy)
                .bind(now)
                .bind(write.previous.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Self::error)?;
            let Some(row) = row else {
                // give the connection back before reading on another one
                drop(tx);
                drop(conn);
                return Err(self.version_or_missing(id).await);
            };
            let agent = Agent::try_from(row)?;
            sqlx::query(sql::INSERT_STEP)
                .bind(agent.id)
                .bind(agent.step_count)
                .bind(Json(&write.observation))
                .bind(Json(&write.action))
                .bind(write.free_energy)
                .bind(write.entropy)
                .bind(Json(&write.most_likely))
                .bind(write.duration_micros)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(Self::error)?;
            let oldest_kept = agent.step_count - i64::from(write.history_limit.max(1)) + 1;
            if oldest_kept > 1 {
                sqlx::query(sql::PRUNE_STEPS)
                    .bind(agent.id)
                    .bind(oldest_kept)
                    .execute(&mut *tx)
                    .await
                    .map_err(Self::error)?;
            }
            Self::write_event(&mut *tx, event(&agent)).await?;
            tx.commit().await.map_err(Self::error)?;
            Ok(agent)
        }
    }
}
