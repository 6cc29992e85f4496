use crate::agents::{Agent, AgentChange, AgentQuery, AgentWithState, NewAgent, StatusCounts, StepPage, StepWrite};
use crate::coalitions::{
    Coalition, CoalitionChange, CoalitionDetail, CoalitionQuery, CoalitionStatusCounts, FormationCandidate,
    FormationWrite, JoinRequest, MemberChange, NewCoalition, NewObjective, ObjectiveChange,
};
use crate::events::{CoalitionEventFor, Event, EventFor, NewEvent};
use crate::idempotency::IdempotencyClaim;
use crate::model::{
    AuditEvent, Cursor, NewAuditEvent, NewRefreshToken, NewUser, Page, PoolStats, RefreshToken, UserChange, UserQuery,
};
use crate::settings::{AgentTotals, UserSettings};
use crate::{MigrationStatus, StoreError};
use async_trait::async_trait;
use freeagentics_core::User;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, new: NewUser) -> Result<User, StoreError>;
    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError>;
    /// Case-insensitive match on username or email.
    async fn user_by_login(&self, username_or_email: &str) -> Result<User, StoreError>;
    async fn list_users(&self, query: &UserQuery) -> Result<Page<User>, StoreError>;
    /// Applies `change` if the row is still at `expected_version` (when given).
    async fn update_user(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        change: UserChange,
    ) -> Result<User, StoreError>;
    async fn count_admins(&self) -> Result<i64, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_refresh_token(&self, new: NewRefreshToken) -> Result<RefreshToken, StoreError>;
    async fn refresh_token_by_hash(&self, token_hash: &str) -> Result<RefreshToken, StoreError>;
    /// Marks the token rotated if, and only if, nobody rotated or revoked it first. `false` means
    /// the token was already used: the caller treats that as reuse.
    async fn mark_rotated(&self, id: Uuid, at: OffsetDateTime) -> Result<bool, StoreError>;
    async fn revoke_family(&self, family_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;
    async fn revoke_user_tokens(&self, user_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;
    async fn delete_expired_refresh_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    async fn list_audit_events(
        &self,
        kind: Option<&str>,
        user_id: Option<Uuid>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page<AuditEvent>, StoreError>;
}

/// Agents and their history. Every change writes its outbox event in the same transaction.
#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn create_agent(&self, new: NewAgent, event: EventFor<'_, Agent>) -> Result<Agent, StoreError>;
    /// The agent without its engine state (views, checks before a change).
    async fn agent_by_id(&self, id: Uuid) -> Result<Agent, StoreError>;
    /// The account `user` and the agent `agent`, read in one query: what an authenticated read of
    /// an agent needs when the caches are bypassed. `None` without the account (the agent is then
    /// not read); the agent `None` when it does not exist.
    async fn user_and_agent(&self, user: Uuid, agent: Uuid) -> Result<Option<(User, Option<Agent>)>, StoreError>;
    /// The agent and its engine state (stepping, beliefs).
    async fn agent_with_state(&self, id: Uuid) -> Result<AgentWithState, StoreError>;
    async fn list_agents(&self, query: &AgentQuery) -> Result<Page<Agent>, StoreError>;
    async fn list_agents_with_state(&self, query: &AgentQuery) -> Result<Page<AgentWithState>, StoreError>;
    /// Applies `change` if the agent is still at `expected_version` (when given);
    /// `VersionMismatch` otherwise.
    async fn update_agent(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        change: AgentChange,
        event: EventFor<'_, Agent>,
    ) -> Result<Agent, StoreError>;
    /// Deletes the agent (its history goes with it); the event describes the agent as it was. It
    /// first leaves every coalition it is in by the membership rules (leader succession,
    /// dissolution of an emptied coalition), each with its events; returns those coalitions' ids.
    async fn delete_agent(
        &self,
        id: Uuid,
        event: EventFor<'_, Agent>,
        coalition_event: CoalitionEventFor<'_>,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// Persists a step if the agent is still at the version of `write.previous`; `VersionMismatch`
    /// otherwise (a concurrent step got there first). Prunes history beyond `history_limit`.
    async fn record_step(&self, write: StepWrite, event: EventFor<'_, Agent>) -> Result<Agent, StoreError>;
    /// History newest first, before `before_seq` when given.
    async fn list_steps(&self, agent_id: Uuid, limit: u32, before_seq: Option<i64>) -> Result<StepPage, StoreError>;
    async fn count_agents_by_status(&self) -> Result<StatusCounts, StoreError>;
    /// Steps and mean last free energy over every agent (one aggregate scan).
    async fn agent_totals(&self) -> Result<AgentTotals, StoreError>;
}

/// Coalitions, members and objectives. Every write locks the coalition (after any agent it
/// involves), decides with the rules of `freeagentics_core::coalition`, writes its events in the
/// same transaction and answers the coalition as it now is. Rule refusals are
/// `StoreError::Refused`.
#[async_trait]
pub trait CoalitionStore: Send + Sync {
    async fn create_coalition(
        &self,
        new: NewCoalition,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn coalition_by_id(&self, id: Uuid) -> Result<CoalitionDetail, StoreError>;
    async fn list_coalitions(&self, query: &CoalitionQuery) -> Result<Page<Coalition>, StoreError>;
    /// `VersionMismatch` unless still at `expected_version` (when given).
    async fn update_coalition(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        change: CoalitionChange,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn add_member(
        &self,
        coalition_id: Uuid,
        join: JoinRequest,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn update_member(
        &self,
        coalition_id: Uuid,
        agent_id: Uuid,
        change: MemberChange,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn remove_member(
        &self,
        coalition_id: Uuid,
        agent_id: Uuid,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn add_objective(
        &self,
        coalition_id: Uuid,
        objective: NewObjective,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn update_objective(
        &self,
        coalition_id: Uuid,
        objective_id: Uuid,
        change: ObjectiveChange,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    async fn remove_objective(
        &self,
        coalition_id: Uuid,
        objective_id: Uuid,
        event: CoalitionEventFor<'_>,
    ) -> Result<CoalitionDetail, StoreError>;
    /// Agents formation may place: `agent_ids` (unknown ids are left out), or else every active
    /// agent of `owner_id` (every owner's when `None`), at most `limit`, in id order.
    async fn formation_candidates(
        &self,
        agent_ids: Option<&[Uuid]>,
        owner_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<FormationCandidate>, StoreError>;
    /// Persists a formation's coalitions in one transaction, all or none.
    async fn persist_formation(
        &self,
        write: FormationWrite,
        event: CoalitionEventFor<'_>,
    ) -> Result<Vec<CoalitionDetail>, StoreError>;
    async fn count_coalitions_by_status(&self) -> Result<CoalitionStatusCounts, StoreError>;
}

/// Idempotency-Key records.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for this request unless a live record exists (an expired one is replaced).
    async fn claim_idempotency_key(
        &self,
        user_id: Uuid,
        key: &str,
        request_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Stores the response of the request that claimed `key`.
    async fn finish_idempotency_key(
        &self,
        user_id: Uuid,
        key: &str,
        status: u16,
        headers: &serde_json::Value,
        body: &[u8],
    ) -> Result<(), StoreError>;
    /// Releases a claim whose request failed without a response worth replaying (5xx).
    async fn abandon_idempotency_key(&self, user_id: Uuid, key: &str) -> Result<(), StoreError>;
    async fn delete_expired_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The outbox, for changes that are not agents' (their own stores write it in their transactions).
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn insert_event(&self, event: NewEvent) -> Result<(), StoreError>;
    /// Events not yet published, oldest first (the relay's queue).
    async fn unpublished_events(&self, limit: u32) -> Result<Vec<Event>, StoreError>;
    /// Retention: deletes every event written before `before`; returns how many.
    async fn delete_events_before(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// What the event relay needs of the outbox (`relay_queries.rs`).
#[async_trait]
pub trait EventRelayStore: Send + Sync {
    /// Numbers the events not numbered yet (at most `limit`, in id order) after every number in
    /// use and after `floor` (the bus's newest id), then returns the numbered events not yet
    /// published, lowest number first. Replicas number one at a time; the numbers are committed
    /// when this returns.
    async fn sequence_events(&self, floor: i64, limit: u32) -> Result<Vec<Event>, StoreError>;
    /// Records that every numbered event up to `through` is published (the relay's position moves
    /// forward, never back); `false` when it already was at or past `through`.
    async fn mark_published(&self, through: i64) -> Result<bool, StoreError>;
    /// The retained events of one topic, published or not, oldest first (tests and support).
    async fn topic_events(&self, topic: &str, limit: u32) -> Result<Vec<Event>, StoreError>;
}

/// Per-user settings of the web frontend.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn user_settings(&self, user_id: Uuid) -> Result<Option<UserSettings>, StoreError>;
    /// Writes `settings` (their `version` and `updated_at` are ignored): the first write when
    /// `expected_version` is `None`, otherwise only over that version. `VersionMismatch` when
    /// another write came first; the caller reads again and reapplies its change.
    async fn put_user_settings(
        &self,
        settings: &UserSettings,
        expected_version: Option<i64>,
    ) -> Result<UserSettings, StoreError>;
}

/// Everything the service persists, behind one object chosen at start-up.
#[async_trait]
pub trait Store:
    UserStore
    + TokenStore
    + AuditStore
    + AgentStore
    + CoalitionStore
    + IdempotencyStore
    + EventStore
    + EventRelayStore
    + SettingsStore
    + std::fmt::Debug
{
    fn backend(&self) -> Backend;
    /// `SELECT 1` through the pool: readiness uses it.
    async fn ping(&self) -> Result<(), StoreError>;
    fn pool_stats(&self) -> PoolStats;
    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError>;
    /// Reverts exactly the newest applied migration; `None` when nothing is applied.
    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError>;
    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError>;
    async fn close(&self);
}
