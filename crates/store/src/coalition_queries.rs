//! Coalitions, implemented once for both backends like `agent_queries.rs`: each backend module
//! supplies `coalition_sql` with the same constant names. The locking statements differ: PostgreSQL
//! takes row locks (`for update`); SQLite's one writer connection already serialises transactions.
//!
//! Lock order, everywhere: agents before coalitions, each in id order. Joins lock the agent (its
//! coalition count must not change underneath) then the coalition; deleting an agent locks it, then
//! its coalitions; formation locks its agents in id order. No two transactions can wait on each other.
use crate::StoreError;
use crate::coalitions::{Coalition, CoalitionMember, CoalitionObjective, FormationCandidate};
use freeagentics_core::AgentStatus;
use freeagentics_core::coalition::{CoalitionStatus, Member, MemberRole};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CoalitionRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    description: String,
    status: String,
    max_size: i64,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    dissolved_at: Option<OffsetDateTime>,
    member_count: i64,
}

impl TryFrom<CoalitionRow> for Coalition {
    type Error = StoreError;

    fn try_from(row: CoalitionRow) -> Result<Self, StoreError> {
        Ok(Coalition {
            id: row.id,
            owner_id: row.owner_id,
            name: row.name,
            description: row.description,
            status: row.status.parse::<CoalitionStatus>().map_err(StoreError::other)?,
            max_size: row.max_size,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            dissolved_at: row.dissolved_at,
            member_count: row.member_count,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MemberRow {
    agent_id: Uuid,
    role: String,
    contribution: f64,
    trust: f64,
    joined_at: OffsetDateTime,
    agent_status: String,
    capabilities: Json<Vec<String>>,
}

impl TryFrom<MemberRow> for CoalitionMember {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> Result<Self, StoreError> {
        Ok(CoalitionMember {
            member: Member {
                agent_id: row.agent_id,
                role: row.role.parse::<MemberRole>().map_err(StoreError::other)?,
                contribution: row.contribution,
                trust: row.trust,
                joined_at: row.joined_at,
            },
            agent_status: row.agent_status.parse::<AgentStatus>().map_err(StoreError::other)?,
            capabilities: row.capabilities.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ObjectiveRow {
    id: Uuid,
    coalition_id: Uuid,
    description: String,
    required_capabilities: Json<Vec<String>>,
    priority: f64,
    progress: f64,
    deadline: Option<OffsetDateTime>,
    completed_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<ObjectiveRow> for CoalitionObjective {
    fn from(row: ObjectiveRow) -> Self {
        CoalitionObjective {
            id: row.id,
            coalition_id: row.coalition_id,
            description: row.description,
            required_capabilities: row.required_capabilities.0,
            priority: row.priority,
            progress: row.progress,
            deadline: row.deadline,
            completed_at: row.completed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CandidateRow {
    id: Uuid,
    owner_id: Uuid,
    status: String,
    capabilities: Json<Vec<String>>,
    memberships: i64,
    mean_trust: Option<f64>,
}

impl TryFrom<CandidateRow> for FormationCandidate {
    type Error = StoreError;

    fn try_from(row: CandidateRow) -> Result<Self, StoreError> {
        Ok(FormationCandidate {
            agent_id: row.id,
            owner_id: row.owner_id,
            status: row.status.parse::<AgentStatus>().map_err(StoreError::other)?,
            capabilities: row.capabilities.0,
            coalitions: usize::try_from(row.memberships).unwrap_or(usize::MAX),
            mean_trust: row.mean_trust,
        })
    }
}

/// `completed_at` after a progress change: set when progress reaches 1, kept while it stays there,
/// cleared when it drops below.
pub(crate) fn completed_at(
    progress: f64,
    before: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    if progress >= 1.0 { Some(before.unwrap_or(now)) } else { None }
}

macro_rules! impl_coalition_traits {
    ($store:ty, $sql:path, $db:ty) => {
        const _: () = {
            use crate::StoreError;
            use crate::coalition_queries::{CandidateRow, CoalitionRow, MemberRow, ObjectiveRow, completed_at};
            use crate::coalitions::*;
            use crate::events::{CoalitionEventFor, CoalitionEventKind};
            use crate::model::Page;
            use crate::traits::CoalitionStore;
            use async_trait::async_trait;
            use freeagentics_core::AgentStatus;
            use freeagentics_core::coalition::membership::{DEFAULT_CONTRIBUTION, DEFAULT_TRUST};
            use freeagentics_core::coalition::{
                CoalitionStatus, JoinError, JoinTarget, Joiner, Member, MemberRole, MembershipError, check_join,
                missing_capabilities, plan_leave, plan_role_change, status_after_objectives_changed,
            };
            use sqlx::Connection as _;
            use sqlx::types::Json;
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $sql as sql;

            type Conn = <$db as sqlx::Database>::Connection;

            impl $store {
                /// The coalition with its members and objectives, read on `conn` (inside the
                /// caller's transaction when there is one).
                async fn coalition_detail(conn: &mut Conn, id: Uuid) -> Result<CoalitionDetail, StoreError> {
                    let coalition: Coalition = sqlx::query_as::<_, CoalitionRow>(sql::COALITION_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(Self::error)?
                        .try_into()?;
                    let members = sqlx::query_as::<_, MemberRow>(sql::MEMBERS_OF)
                        .bind(id)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(Self::error)?
                        .into_iter()
                        .map(CoalitionMember::try_from)
                        .collect::<Result<Vec<_>, _>>()?;
                    let objectives = sqlx::query_as::<_, ObjectiveRow>(sql::OBJECTIVES_OF)
                        .bind(id)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(Self::error)?
                        .into_iter()
                        .map(CoalitionObjective::from)
                        .collect();
                    Ok(CoalitionDetail { coalition, members, objectives })
                }

                /// Locks the coalition for the rest of the transaction and reads it.
                async fn lock_coalition(conn: &mut Conn, id: Uuid) -> Result<CoalitionDetail, StoreError> {
                    sqlx::query(sql::LOCK_COALITION).bind(id).fetch_one(&mut *conn).await.map_err(Self::error)?;
                    Self::coalition_detail(conn, id).await
                }

                /// Locks the agent for the rest of the transaction; `UnknownAgent` when it does not exist.
                async fn lock_agent(conn: &mut Conn, id: Uuid) -> Result<AgentStatus, StoreError> {
                    let status: Option<(String,)> = sqlx::query_as(sql::LOCK_AGENT)
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(Self::error)?;
                    let (status,) = status.ok_or(CoalitionRefusal::UnknownAgent(id))?;
                    status.parse::<AgentStatus>().map_err(StoreError::other)
                }

                /// Coalitions (not dissolved) the agent belongs to: what counts toward its limit.
                async fn agent_coalition_count(conn: &mut Conn, agent_id: Uuid) -> Result<usize, StoreError> {
                    let (count,): (i64,) = sqlx::query_as(sql::AGENT_COALITION_COUNT)
                        .bind(agent_id)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(Self::error)?;
                    Ok(usize::try_from(count).unwrap_or(usize::MAX))
                }

                async fn set_coalition(
                    conn: &mut Conn,
                    id: Uuid,
                    change: &CoalitionChange,
                    now: OffsetDateTime,
                ) -> Result<(), StoreError> {
                    let dissolved_at = (change.status == Some(CoalitionStatus::Dissolved)).then_some(now);
                    sqlx::query(sql::UPDATE_COALITION)
                        .bind(id)
                        .bind(change.name.as_deref())
                        .bind(change.description.as_deref())
                        .bind(change.max_size)
                        .bind(change.status.map(CoalitionStatus::as_str))
                        .bind(dissolved_at)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                async fn set_role(
                    conn: &mut Conn,
                    coalition_id: Uuid,
                    agent_id: Uuid,
                    role: MemberRole,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::UPDATE_MEMBER)
                        .bind(coalition_id)
                        .bind(agent_id)
                        .bind(role.as_str())
                        .bind(None::<f64>)
                        .bind(None::<f64>)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                async fn insert_objective(
                    conn: &mut Conn,
                    coalition_id: Uuid,
                    objective: &NewObjective,
                    now: OffsetDateTime,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_OBJECTIVE)
                        .bind(objective.id)
                        .bind(coalition_id)
                        .bind(&objective.description)
                        .bind(Json(&objective.required_capabilities))
                        .bind(objective.priority)
                        .bind(objective.progress)
                        .bind(objective.deadline)
                        .bind(completed_at(objective.progress, None, now))
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                async fn insert_coalition(
                    conn: &mut Conn,
                    new: &NewCoalition,
                    status: CoalitionStatus,
                    now: OffsetDateTime,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_COALITION)
                        .bind(new.id)
                        .bind(new.owner_id)
                        .bind(&new.name)
                        .bind(&new.description)
                        .bind(status.as_str())
                        .bind(new.max_size)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(Self::error)?;
                    for objective in &new.objectives {
                        Self::insert_objective(conn, new.id, objective, now).await?;
                    }
                    Ok(())
                }

                async fn insert_member(
                    conn: &mut Conn,
                    coalition_id: Uuid,
                    agent_id: Uuid,
                    role: MemberRole,
                    now: OffsetDateTime,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_MEMBER)
                        .bind(coalition_id)
                        .bind(agent_id)
                        .bind(role.as_str())
                        .bind(DEFAULT_CONTRIBUTION)
                        .bind(DEFAULT_TRUST)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                        .map_err(Self::error)
                }

                /// After objectives changed: an active coalition whose objectives are all complete
                /// starts disbanding. Returns the change to apply with the version bump.
                fn objectives_status(status: CoalitionStatus, total: usize, complete: usize) -> CoalitionChange {
                    CoalitionChange {
                        status: status_after_objectives_changed(status, total, complete),
                        ..CoalitionChange::default()
                    }
                }

                /// Takes `agent_id` out of the locked coalition by the leave rules; writes the
                /// events (member left, and dissolved when it was the last member).
                async fn leave(
                    conn: &mut Conn,
                    detail: &CoalitionDetail,
                    agent_id: Uuid,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let id = detail.coalition.id;
                    if detail.coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    let members: Vec<Member> = detail.members.iter().map(|m| m.member.clone()).collect();
                    let plan = plan_leave(&members, agent_id).map_err(CoalitionRefusal::from)?;
                    let now = OffsetDateTime::now_utc();
                    sqlx::query(sql::DELETE_MEMBER)
                        .bind(id)
                        .bind(agent_id)
                        .execute(&mut *conn)
                        .await
                        .map_err(Self::error)?;
                    if let Some(leader) = plan.new_leader {
                        Self::set_role(conn, id, leader, MemberRole::Leader).await?;
                    }
                    let status = plan.dissolves.then_some(CoalitionStatus::Dissolved);
                    Self::set_coalition(conn, id, &CoalitionChange { status, ..CoalitionChange::default() }, now)
                        .await?;
                    let after = Self::coalition_detail(conn, id).await?;
                    Self::write_event(&mut *conn, event(CoalitionEventKind::MemberLeft, &after)).await?;
                    if plan.dissolves {
                        Self::write_event(&mut *conn, event(CoalitionEventKind::Dissolved, &after)).await?;
                    }
                    Ok(after)
                }

                /// For `delete_agent`: leaves every coalition (not dissolved) the agent is in, in
                /// coalition id order, inside the caller's transaction (which holds the agent's lock).
                pub(crate) async fn leave_all_coalitions(
                    conn: &mut Conn,
                    agent_id: Uuid,
                    event: CoalitionEventFor<'_>,
                ) -> Result<Vec<Uuid>, StoreError> {
                    let ids: Vec<(Uuid,)> = sqlx::query_as(sql::LOCK_AGENT_COALITIONS)
                        .bind(agent_id)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(Self::error)?;
                    let mut left = Vec::with_capacity(ids.len());
                    for (coalition_id,) in ids {
                        let detail = Self::coalition_detail(conn, coalition_id).await?;
                        Self::leave(conn, &detail, agent_id, event).await?;
                        left.push(coalition_id);
                    }
                    Ok(left)
                }
            }

            #[async_trait]
            impl CoalitionStore for $store {
                async fn create_coalition(
                    &self,
                    new: NewCoalition,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("create_coalition");
                    let now = OffsetDateTime::now_utc();
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    Self::insert_coalition(&mut tx, &new, CoalitionStatus::Forming, now).await?;
                    let detail = Self::coalition_detail(&mut tx, new.id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::Created, &detail)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(detail)
                }

                async fn coalition_by_id(&self, id: Uuid) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("coalition_by_id");
                    let mut conn = self.reader().await?;
                    Self::coalition_detail(&mut conn, id).await
                }

                async fn list_coalitions(&self, query: &CoalitionQuery) -> Result<Page<Coalition>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_coalitions");
                    let rows = sqlx::query_as::<_, CoalitionRow>(sql::LIST_COALITIONS)
                        .bind(query.status.map(CoalitionStatus::as_str))
                        .bind(query.owner_id)
                        .bind(query.member_agent_id)
                        .bind(query.after.map(|c| c.0))
                        .bind(i64::from(query.limit) + 1)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    let coalitions = rows.into_iter().map(Coalition::try_from).collect::<Result<Vec<_>, _>>()?;
                    Ok(Page::from_rows(coalitions, query.limit, |c| c.id))
                }

                async fn update_coalition(
                    &self,
                    id: Uuid,
                    expected_version: Option<i64>,
                    mut change: CoalitionChange,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("update_coalition");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, id).await?;
                    let coalition = &detail.coalition;
                    if expected_version.is_some_and(|v| v != coalition.version) {
                        return Err(StoreError::VersionMismatch);
                    }
                    if coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    if let Some(max_size) = change.max_size
                        && max_size < coalition.member_count
                    {
                        return Err(CoalitionRefusal::SizeBelowMembers {
                            requested: max_size,
                            members: coalition.member_count,
                        }
                        .into());
                    }
                    if let Some(to) = change.status {
                        let members = usize::try_from(coalition.member_count).unwrap_or(0);
                        coalition.status.transition(to, members).map_err(CoalitionRefusal::from)?;
                        if to == CoalitionStatus::Active {
                            // activating a coalition whose objectives are already all complete
                            // goes straight on to disbanding, as completing the last one would
                            let complete = detail.objectives.iter().filter(|o| o.progress >= 1.0).count();
                            change.status =
                                status_after_objectives_changed(to, detail.objectives.len(), complete).or(Some(to));
                        }
                    }
                    Self::set_coalition(&mut tx, id, &change, OffsetDateTime::now_utc()).await?;
                    let after = Self::coalition_detail(&mut tx, id).await?;
                    let kind = if after.coalition.status == CoalitionStatus::Dissolved {
                        CoalitionEventKind::Dissolved
                    } else {
                        CoalitionEventKind::Updated
                    };
                    Self::write_event(&mut *tx, event(kind, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn add_member(
                    &self,
                    coalition_id: Uuid,
                    join: JoinRequest,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("add_member");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let agent_status = Self::lock_agent(&mut tx, join.agent_id).await?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    let current = Self::agent_coalition_count(&mut tx, join.agent_id).await?;
                    let members: Vec<Member> = detail.members.iter().map(|m| m.member.clone()).collect();
                    let plan = check_join(
                        JoinTarget {
                            status: detail.coalition.status,
                            max_size: usize::try_from(detail.coalition.max_size).unwrap_or(0),
                            members: &members,
                        },
                        Joiner {
                            agent_id: join.agent_id,
                            agent_status,
                            requested_role: join.role,
                            current_coalitions: current,
                            max_coalitions: join.max_coalitions,
                        },
                    )
                    .map_err(CoalitionRefusal::from)?;
                    let now = OffsetDateTime::now_utc();
                    if let Some(previous) = plan.demoted_leader {
                        Self::set_role(&mut tx, coalition_id, previous, MemberRole::Member).await?;
                    }
                    Self::insert_member(&mut tx, coalition_id, join.agent_id, plan.role, now).await?;
                    Self::set_coalition(&mut tx, coalition_id, &CoalitionChange::default(), now).await?;
                    let after = Self::coalition_detail(&mut tx, coalition_id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::MemberJoined, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn update_member(
                    &self,
                    coalition_id: Uuid,
                    agent_id: Uuid,
                    change: MemberChange,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("update_member");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    if detail.coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    let members: Vec<Member> = detail.members.iter().map(|m| m.member.clone()).collect();
                    if !members.iter().any(|m| m.agent_id == agent_id) {
                        return Err(CoalitionRefusal::Membership(MembershipError::NotMember).into());
                    }
                    let plan = match change.role {
                        Some(role) => Some(plan_role_change(&members, agent_id, role).map_err(CoalitionRefusal::from)?),
                        None => None,
                    };
                    let now = OffsetDateTime::now_utc();
                    // the one-leader index: demote before promoting
                    if let Some(previous) = plan.and_then(|p| p.demoted_leader) {
                        Self::set_role(&mut tx, coalition_id, previous, MemberRole::Member).await?;
                    }
                    sqlx::query(sql::UPDATE_MEMBER)
                        .bind(coalition_id)
                        .bind(agent_id)
                        .bind(change.role.map(MemberRole::as_str))
                        .bind(change.contribution)
                        .bind(change.trust)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    if let Some(successor) = plan.and_then(|p| p.new_leader) {
                        Self::set_role(&mut tx, coalition_id, successor, MemberRole::Leader).await?;
                    }
                    Self::set_coalition(&mut tx, coalition_id, &CoalitionChange::default(), now).await?;
                    let after = Self::coalition_detail(&mut tx, coalition_id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::Updated, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn remove_member(
                    &self,
                    coalition_id: Uuid,
                    agent_id: Uuid,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("remove_member");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    let after = Self::leave(&mut tx, &detail, agent_id, event).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn add_objective(
                    &self,
                    coalition_id: Uuid,
                    objective: NewObjective,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("add_objective");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    if detail.coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    let missing = missing_capabilities(
                        &objective.required_capabilities,
                        detail.members.iter().map(|m| m.capabilities.as_slice()),
                    );
                    if !missing.is_empty() {
                        return Err(CoalitionRefusal::MissingCapabilities(missing).into());
                    }
                    let now = OffsetDateTime::now_utc();
                    Self::insert_objective(&mut tx, coalition_id, &objective, now).await?;
                    let total = detail.objectives.len() + 1;
                    let complete = detail.objectives.iter().filter(|o| o.progress >= 1.0).count()
                        + usize::from(objective.progress >= 1.0);
                    Self::set_coalition(
                        &mut tx,
                        coalition_id,
                        &Self::objectives_status(detail.coalition.status, total, complete),
                        now,
                    )
                    .await?;
                    let after = Self::coalition_detail(&mut tx, coalition_id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::ObjectiveUpdated, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn update_objective(
                    &self,
                    coalition_id: Uuid,
                    objective_id: Uuid,
                    change: ObjectiveChange,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("update_objective");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    if detail.coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    let objective = detail
                        .objectives
                        .iter()
                        .find(|o| o.id == objective_id)
                        .ok_or(CoalitionRefusal::UnknownObjective(objective_id))?;
                    let now = OffsetDateTime::now_utc();
                    let progress = change.progress.unwrap_or(objective.progress);
                    sqlx::query(sql::UPDATE_OBJECTIVE)
                        .bind(coalition_id)
                        .bind(objective_id)
                        .bind(progress)
                        .bind(change.priority)
                        .bind(completed_at(progress, objective.completed_at, now))
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    let complete = detail
                        .objectives
                        .iter()
                        .filter(|o| if o.id == objective_id { progress >= 1.0 } else { o.progress >= 1.0 })
                        .count();
                    let status = Self::objectives_status(detail.coalition.status, detail.objectives.len(), complete);
                    Self::set_coalition(&mut tx, coalition_id, &status, now).await?;
                    let after = Self::coalition_detail(&mut tx, coalition_id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::ObjectiveUpdated, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn remove_objective(
                    &self,
                    coalition_id: Uuid,
                    objective_id: Uuid,
                    event: CoalitionEventFor<'_>,
                ) -> Result<CoalitionDetail, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("remove_objective");
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    let detail = Self::lock_coalition(&mut tx, coalition_id).await?;
                    if detail.coalition.status == CoalitionStatus::Dissolved {
                        return Err(CoalitionRefusal::Dissolved.into());
                    }
                    if !detail.objectives.iter().any(|o| o.id == objective_id) {
                        return Err(CoalitionRefusal::UnknownObjective(objective_id).into());
                    }
                    let now = OffsetDateTime::now_utc();
                    sqlx::query(sql::DELETE_OBJECTIVE)
                        .bind(coalition_id)
                        .bind(objective_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    let remaining = detail.objectives.iter().filter(|o| o.id != objective_id);
                    let complete = remaining.clone().filter(|o| o.progress >= 1.0).count();
                    let status = Self::objectives_status(detail.coalition.status, remaining.count(), complete);
                    Self::set_coalition(&mut tx, coalition_id, &status, now).await?;
                    let after = Self::coalition_detail(&mut tx, coalition_id).await?;
                    Self::write_event(&mut *tx, event(CoalitionEventKind::ObjectiveUpdated, &after)).await?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(after)
                }

                async fn formation_candidates(
                    &self,
                    agent_ids: Option<&[Uuid]>,
                    owner_id: Option<Uuid>,
                    limit: u32,
                ) -> Result<Vec<FormationCandidate>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("formation_candidates");
                    let rows: Vec<CandidateRow> = match agent_ids {
                        Some(ids) => {
                            let mut ids = ids.to_vec();
                            ids.sort_unstable();
                            ids.dedup();
                            let mut rows = Vec::with_capacity(ids.len());
                            for id in ids.into_iter().take(limit as usize) {
                                let row = sqlx::query_as::<_, CandidateRow>(sql::CANDIDATE_BY_ID)
                                    .bind(id)
                                    .fetch_optional(&mut *self.reader().await?)
                                    .await
                                    .map_err(Self::error)?;
                                rows.extend(row);
                            }
                            rows
                        }
                        None => sqlx::query_as::<_, CandidateRow>(sql::ACTIVE_CANDIDATES)
                            .bind(owner_id)
                            .bind(i64::from(limit))
                            .fetch_all(&mut *self.reader().await?)
                            .await
                            .map_err(Self::error)?,
                    };
                    rows.into_iter().map(FormationCandidate::try_from).collect()
                }

                async fn persist_formation(
                    &self,
                    write: FormationWrite,
                    event: CoalitionEventFor<'_>,
                ) -> Result<Vec<CoalitionDetail>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("persist_formation");
                    let mut placements: std::collections::BTreeMap<Uuid, usize> = std::collections::BTreeMap::new();
                    for formed in &write.coalitions {
                        for (agent_id, _) in &formed.members {
                            *placements.entry(*agent_id).or_default() += 1;
                        }
                    }
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    // agents in id order (the BTreeMap's), as every transaction locks them
                    for (agent_id, added) in &placements {
                        let status = Self::lock_agent(&mut tx, *agent_id).await?;
                        if !status.may_join_coalition() {
                            return Err(CoalitionRefusal::Join(JoinError::AgentIneligible { status }).into());
                        }
                        let current = Self::agent_coalition_count(&mut tx, *agent_id).await?;
                        if current + added > write.max_coalitions {
                            return Err(CoalitionRefusal::Join(JoinError::AgentAtLimit {
                                current,
                                limit: write.max_coalitions,
                            })
                            .into());
                        }
                    }
                    let now = OffsetDateTime::now_utc();
                    let mut details = Vec::with_capacity(write.coalitions.len());
                    for formed in &write.coalitions {
                        let status =
                            if formed.members.is_empty() { CoalitionStatus::Forming } else { CoalitionStatus::Active };
                        Self::insert_coalition(&mut tx, &formed.coalition, status, now).await?;
                        // the leader first: the one-leader index holds at every row
                        let mut members = formed.members.clone();
                        members.sort_by_key(|(_, role)| *role != MemberRole::Leader);
                        for (agent_id, role) in members {
                            Self::insert_member(&mut tx, formed.coalition.id, agent_id, role, now).await?;
                        }
                        let detail = Self::coalition_detail(&mut tx, formed.coalition.id).await?;
                        Self::write_event(&mut *tx, event(CoalitionEventKind::Formed, &detail)).await?;
                        details.push(detail);
                    }
                    tx.commit().await.map_err(Self::error)?;
                    Ok(details)
                }

                async fn count_coalitions_by_status(&self) -> Result<CoalitionStatusCounts, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("count_coalitions_by_status");
                    let rows: Vec<(String, i64)> = sqlx::query_as(sql::COUNT_COALITIONS_BY_STATUS)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    rows.into_iter()
                        .map(|(status, n)| status.parse::<CoalitionStatus>().map(|s| (s, n)).map_err(StoreError::other))
                        .collect()
                }
            }
        };
    };
}

pub(crate) use impl_coalition_traits;

#[cfg(test)]
mod tests {
    use super::completed_at;
    use time::macros::datetime;

    #[test]
    fn completion_is_set_once_kept_and_cleared() {
        let first = datetime!(2026-01-01 00:00 UTC);
        let later = datetime!(2026-02-01 00:00 UTC);
        assert_eq!(completed_at(1.0, None, first), Some(first));
        assert_eq!(completed_at(1.0, Some(first), later), Some(first));
        assert_eq!(completed_at(0.5, Some(first), later), None);
        assert_eq!(completed_at(0.99, None, later), None);
    }
}
