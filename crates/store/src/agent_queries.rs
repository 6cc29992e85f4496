//! Agents, idempotency records and the outbox, implemented once for both backends like
//! `queries.rs`: each backend module supplies `agent_sql` with the same constant names.
use crate::StoreError;
use crate::agents::{Agent, AgentStep, AgentWithState};
use crate::idempotency::IdempotencyRecord;
use freeagentics_core::AgentStatus;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    template: String,
    status: String,
    capabilities: Json<Vec<String>>,
    parameters: Json<serde_json::Value>,
    gmn_spec: Option<String>,
    model_key: String,
    step_count: i64,
    total_step_micros: i64,
    last_free_energy: Option<f64>,
    last_active_at: Option<OffsetDateTime>,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;

    fn try_from(row: AgentRow) -> Result<Self, StoreError> {
        Ok(Agent {
            id: row.id,
            owner_id: row.owner_id,
            name: row.name,
            template: row.template,
            status: row.status.parse::<AgentStatus>().map_err(StoreError::other)?,
            capabilities: row.capabilities.0,
            parameters: row.parameters.0,
            gmn_spec: row.gmn_spec,
            model_key: row.model_key,
            step_count: row.step_count,
            total_step_micros: row.total_step_micros,
            last_free_energy: row.last_free_energy,
            last_active_at: row.last_active_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentWithStateRow {
    #[sqlx(flatten)]
    agent: AgentRow,
    state: String,
}

impl TryFrom<AgentWithStateRow> for AgentWithState {
    type Error = StoreError;

    fn try_from(row: AgentWithStateRow) -> Result<Self, StoreError> {
        Ok(AgentWithState { agent: row.agent.try_into()?, state: row.state })
    }
}

/// The columns of [`AgentRow`]: every one but the engine state, which only stepping and beliefs
/// read (`AgentWithStateRow`).
macro_rules! agent_columns {
    () => {
        "id, owner_id, name, template, status, capabilities, parameters, gmn_spec, model_key, step_count, \
         total_step_micros, last_free_energy, last_active_at, version, created_at, updated_at"
    };
}
pub(crate) use agent_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StepRow {
    agent_id: Uuid,
    seq: i64,
    observation: Json<Vec<usize>>,
    action: Json<Vec<usize>>,
    free_energy: f64,
    entropy: f64,
    most_likely: Json<Vec<(usize, f64)>>,
    duration_micros: i64,
    created_at: OffsetDateTime,
}

impl From<StepRow> for AgentStep {
    fn from(row: StepRow) -> Self {
        AgentStep {
            agent_id: row.agent_id,
            seq: row.seq,
            observation: row.observation.0,
            action: row.action.0,
            free_energy: row.free_energy,
            entropy: row.entropy,
            most_likely: row.most_likely.0,
            duration_micros: row.duration_micros,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    request_hash: String,
    status: Option<i32>,
    headers: Option<Json<serde_json::Value>>,
    body: Option<Vec<u8>>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl From<IdempotencyRow> for IdempotencyRecord {
    fn from(row: IdempotencyRow) -> Self {
        IdempotencyRecord {
            request_hash: row.request_hash,
            status: row.status.and_then(|s| u16::try_from(s).ok()),
            headers: row.headers.map_or(serde_json::Value::Null, |h| h.0),
            body: row.body.unwrap_or_default(),
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: Uuid,
    topic: String,
    kind: String,
    payload: Json<serde_json::Value>,
    created_at: OffsetDateTime,
    seq: Option<i64>,
    published: bool,
}

impl From<EventRow> for crate::events::Event {
    fn from(row: EventRow) -> Self {
        crate::events::Event {
            id: row.id,
            topic: row.topic,
            kind: row.kind,
            payload: row.payload.0,
            created_at: row.created_at,
            seq: row.seq,
            published: row.published,
        }
    }
}

macro_rules! impl_agent_traits {
    ($store:ty, $sql:path, $db:ty) => {
        const _: () = {
            use crate::StoreError;
            use crate::agent_queries::{AgentRow, AgentWithStateRow, EventRow, IdempotencyRow, StepRow};
            use crate::agents::*;
            use crate::events::{Event, EventFor, NewEvent};
            use crate::idempotency::IdempotencyClaim;
            use crate::model::Page;
            use crate::rows::{JoinedUserRow, UserRow};
            use crate::traits::{AgentStore, EventStore, IdempotencyStore};
            use async_trait::async_trait;
            use freeagentics_core::{AgentStatus, User, new_id};
            use sqlx::Connection as _;
            use sqlx::types::Json;
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $sql as sql;

            impl $store {
                pub(crate) async fn write_event<'c, E>(executor: E, event: NewEvent) -> Result<(), StoreError>
                where
                    E: sqlx::Executor<'c, Database = $db>,
                {
                    sqlx::query(sql::INSERT_EVENT)
                        .bind(new_id())
                        .bind(&event.topic)
                        .bind(&event.kind)
                        .bind(Json(&event.payload))
                        .bind(OffsetDateTime::now_utc())
                        .execute(executor)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                /// `limit + 1` agents matching `query` by `list`, a listing query with the filters
                /// of `LIST_AGENTS`.
                async fn agent_page<R, T>(&self, list: &'static str, query: &AgentQuery) -> Result<Vec<T>, StoreError>
                where
                    R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                    T: TryFrom<R, Error = StoreError>,
                {
                    let upper = query.name_prefix.as_deref().and_then(prefix_upper_bound);
                    sqlx::query_as::<_, R>(list)
                        .bind(query.status.map(AgentStatus::as_str))
                        .bind(query.template.as_deref())
                        .bind(query.owner_id)
                        .bind(query.name_prefix.as_deref())
                        .bind(upper)
                        .bind(query.after.map(|c| c.0))
                        .bind(i64::from(query.limit) + 1)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .into_iter()
                        .map(T::try_from)
                        .collect()
                }

                /// After a conditional write matched nothing: a stale version, or no such agent.
                pub(crate) async fn version_or_missing(&self, id: Uuid) -> StoreError {
                    match self.agent_by_id(id).await {
                        Ok(_) => StoreError::VersionMismatch,
                        Err(e) => e,
                    }
                }
            }

            #[async_trait]
            impl AgentStore for $store {
                async fn create_agent(&self, new: NewAgent, event: EventFor<'_, Agent>) -> Result<Agent, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("create_agent");
                    self.insert_agent(new, event).await
                }

                async fn agent_by_id(&self, id: Uuid) -> Result<Agent, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("agent_by_id");
                    sqlx::query_as::<_, AgentRow>(sql::AGENT_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .try_into()
                }

                async fn user_and_agent(
                    &self,
                    user: Uuid,
                    agent: Uuid,
                ) -> Result<Option<(User, Option<Agent>)>, StoreError> {
                    use sqlx::{FromRow as _, Row as _};
                    let _timer = crate::timing::QueryTimer::start("user_and_agent");
                    let row = sqlx::query(sql::USER_AND_AGENT)
                        .bind(user)
                        .bind(agent)
                        .fetch_optional(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    let Some(row) = row else { return Ok(None) };
                    let user = UserRow::from(JoinedUserRow::from_row(&row).map_err(Self::error)?).try_into()?;
                    let agent = match row.try_get::<Option<Uuid>, _>("id").map_err(Self::error)? {
                        Some(_) => Some(AgentRow::from_row(&row).map_err(Self::error)?.try_into()?),
                        None => None,
                    };
                    Ok(Some((user, agent)))
                }

                async fn agent_with_state(&self, id: Uuid) -> Result<AgentWithState, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("agent_with_state");
                    sqlx::query_as::<_, AgentWithStateRow>(sql::AGENT_WITH_STATE_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .try_into()
                }

                async fn list_agents(&self, query: &AgentQuery) -> Result<Page<Agent>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_agents");
                    let agents = self.agent_page::<AgentRow, Agent>(sql::LIST_AGENTS, query).await?;
                    Ok(Page::from_rows(agents, query.limit, |a| a.id))
                }

                async fn list_agents_with_state(&self, query: &AgentQuery) -> Result<Page<AgentWithState>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_agents_with_state");
                    let agents = self
                        .agent_page::<AgentWithStateRow, AgentWithState>(sql::LIST_AGENTS_WITH_STATE, query)
                        .await?;
                    Ok(Page::from_rows(agents, query.limit, |a| a.agent.id))
                }

                async fn update_agent(
                    &self,
                    id: Uuid,
                    expected_version: Option<i64>,
                    change: AgentChange,
                    event: EventFor<'_, Agent>,
                ) -> Result<Agent, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("update_agent");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let row = sqlx::query_as::<_, AgentRow>(sql::UPDATE_AGENT)
                        .bind(id)
                        .bind(change.name.as_deref())
                        .bind(change.capabilities.as_ref().map(Json))
                        .bind(change.status.map(AgentStatus::as_str))
                        .bind(OffsetDateTime::now_utc())
                        .bind(expected_version)
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
                    Self::write_event(&mut *tx, event(&agent)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(agent)
                }

                async fn delete_agent(
                    &self,
                    id: Uuid,
                    event: EventFor<'_, Agent>,
                    coalition_event: crate::events::CoalitionEventFor<'_>,
                ) -> Result<Vec<Uuid>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("delete_agent");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    match Self::lock_agent(&mut tx, id).await {
                        Err(StoreError::Refused(crate::coalitions::CoalitionRefusal::UnknownAgent(_))) => {
                            return Err(StoreError::NotFound);
                        }
                        other => other?,
                    };
                    let left = Self::leave_all_coalitions(&mut tx, id, coalition_event).await?;
                    let agent: Agent = sqlx::query_as::<_, AgentRow>(sql::DELETE_AGENT)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(Self::error)?
                        .try_into()?;
                    Self::write_event(&mut *tx, event(&agent)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(left)
                }

                async fn record_step(&self, write: StepWrite, event: EventFor<'_, Agent>) -> Result<Agent, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("record_step");
                    self.write_step(write, event).await
                }

                async fn list_steps(
                    &self,
                    agent_id: Uuid,
                    limit: u32,
                    before_seq: Option<i64>,
                ) -> Result<StepPage, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_steps");
                    let mut rows: Vec<AgentStep> = sqlx::query_as::<_, StepRow>(sql::LIST_STEPS)
                        .bind(agent_id)
                        .bind(before_seq)
                        .bind(i64::from(limit) + 1)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .into_iter()
                        .map(AgentStep::from)
                        .collect();
                    let next = if rows.len() > limit as usize {
                        rows.truncate(limit as usize);
                        rows.last().map(|step| step.seq)
                    } else {
                        None
                    };
                    Ok(StepPage { items: rows, next })
                }

                async fn agent_totals(&self) -> Result<crate::settings::AgentTotals, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("agent_totals");
                    let (steps, mean_last_free_energy): (i64, Option<f64>) = sqlx::query_as(sql::AGENT_TOTALS)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(crate::settings::AgentTotals { steps, mean_last_free_energy })
                }

                async fn count_agents_by_status(&self) -> Result<StatusCounts, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("count_agents_by_status");
                    let rows: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_AGENTS_BY_STATUS)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    rows.into_iter()
                        .map(|(status, n)| status.parse::<AgentStatus>().map(|s| (s, n)).map_err(StoreError::other))
                        .collect()
                }
            }

            #[async_trait]
            impl IdempotencyStore for $store {
                async fn claim_idempotency_key(
                    &self,
                    user_id: Uuid,
                    key: &str,
                    request_hash: &str,
                    expires_at: OffsetDateTime,
                ) -> Result<IdempotencyClaim, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("claim_idempotency_key");
                    let now = OffsetDateTime::now_utc();
                    let claimed = sqlx::query(sql::CLAIM_IDEMPOTENCY_KEY)
                        .bind(user_id)
                        .bind(key)
                        .bind(request_hash)
                        .bind(now)
                        .bind(expires_at)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?
                        .rows_affected();
                    if claimed == 1 {
                        return Ok(IdempotencyClaim::Claimed);
                    }
                    let existing = sqlx::query_as::<_, IdempotencyRow>(sql::IDEMPOTENCY_KEY)
                        .bind(user_id)
                        .bind(key)
                        .fetch_one(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(IdempotencyClaim::Existing(existing.into()))
                }

                async fn finish_idempotency_key(
                    &self,
                    user_id: Uuid,
                    key: &str,
                    status: u16,
                    headers: &serde_json::Value,
                    body: &[u8],
                ) -> Result<(), StoreError> {
                    let _timer = crate::timing::QueryTimer::start("finish_idempotency_key");
                    sqlx::query(sql::FINISH_IDEMPOTENCY_KEY)
                        .bind(user_id)
                        .bind(key)
                        .bind(i32::from(status))
                        .bind(Json(headers))
                        .bind(body)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                async fn abandon_idempotency_key(&self, user_id: Uuid, key: &str) -> Result<(), StoreError> {
                    let _timer = crate::timing::QueryTimer::start("abandon_idempotency_key");
                    sqlx::query(sql::ABANDON_IDEMPOTENCY_KEY)
                        .bind(user_id)
                        .bind(key)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                async fn delete_expired_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("delete_expired_idempotency_keys");
                    sqlx::query(sql::DELETE_EXPIRED_IDEMPOTENCY_KEYS)
                        .bind(before)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(Self::error)
                }
            }

            #[async_trait]
            impl EventStore for $store {
                async fn insert_event(&self, event: NewEvent) -> Result<(), StoreError> {
                    let _timer = crate::timing::QueryTimer::start("insert_event");
                    Self::write_event(&mut *self.writer().await?, event).await
                }

                async fn unpublished_events(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("unpublished_events");
                    let rows = sqlx::query_as::<_, EventRow>(sql::UNPUBLISHED_EVENTS)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(rows.into_iter().map(Event::from).collect())
                }

                async fn delete_events_before(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("delete_events_before");
                    sqlx::query(sql::DELETE_EVENTS_BEFORE)
                        .bind(crate::events::first_id_at(before))
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(Self::error)
                }
            }
        };
    };
}

pub(crate) use impl_agent_traits;
