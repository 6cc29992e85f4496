//! Coalitions as clients see them, in responses and in the event stream alike.
use freeagentics_core::AgentStatus;
use freeagentics_core::coalition::{CoalitionStatus, MemberRole, PerformanceInputs, cohesion_score, performance_score};
use freeagentics_store::{Coalition, CoalitionDetail, CoalitionMember, CoalitionObjective};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A coalition with its members, objectives and scores.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoalitionView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = CoalitionStatusName)]
    pub status: CoalitionStatus,
    pub max_size: i64,
    /// The member that leads; absent when the coalition has no members.
    pub leader_id: Option<Uuid>,
    /// In join order.
    pub members: Vec<MemberView>,
    /// In creation order.
    pub objectives: Vec<ObjectiveView>,
    /// 0.7 × completed objectives / objectives + 0.3 × active member agents / members (0–1).
    pub performance_score: f64,
    /// Mean member trust (1 with no members).
    pub cohesion_score: f64,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub dissolved_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub agent_id: Uuid,
    #[schema(value_type = MemberRoleName)]
    pub role: MemberRole,
    /// 0–1; with trust it decides who leads when the leader leaves.
    pub contribution: f64,
    /// 0–1.
    pub trust: f64,
    #[schema(value_type = crate::agents::view::AgentStatusName)]
    pub agent_status: AgentStatus,
    pub capabilities: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ObjectiveView {
    pub id: Uuid,
    pub description: String,
    pub required_capabilities: Vec<String>,
    /// 0–1.
    pub priority: f64,
    /// 0–1; 1 completes the objective.
    pub progress: f64,
    pub completed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A coalition in a list: its fields and member count, without members and objectives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoalitionSummary {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = CoalitionStatusName)]
    pub status: CoalitionStatus,
    pub max_size: i64,
    pub member_count: i64,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub dissolved_at: Option<OffsetDateTime>,
}

/// A coalition status (the schema of status fields and parameters).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoalitionStatusName {
    Forming,
    Active,
    Disbanding,
    Dissolved,
}

/// A member role.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRoleName {
    Leader,
    Coordinator,
    Member,
    Observer,
}

impl From<&CoalitionMember> for MemberView {
    fn from(m: &CoalitionMember) -> Self {
        MemberView {
            agent_id: m.member.agent_id,
            role: m.member.role,
            contribution: m.member.contribution,
            trust: m.member.trust,
            agent_status: m.agent_status,
            capabilities: m.capabilities.clone(),
            joined_at: m.member.joined_at,
        }
    }
}

impl From<&CoalitionObjective> for ObjectiveView {
    fn from(o: &CoalitionObjective) -> Self {
        ObjectiveView {
            id: o.id,
            description: o.description.clone(),
            required_capabilities: o.required_capabilities.clone(),
            priority: o.priority,
            progress: o.progress,
            completed: o.progress >= 1.0,
            deadline: o.deadline,
            completed_at: o.completed_at,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl From<&CoalitionDetail> for CoalitionView {
    fn from(detail: &CoalitionDetail) -> Self {
        let c = &detail.coalition;
        let performance = performance_score(PerformanceInputs {
            objectives_total: detail.objectives.len(),
            objectives_completed: detail.objectives.iter().filter(|o| o.progress >= 1.0).count(),
            members_total: detail.members.len(),
            members_active: detail.members.iter().filter(|m| m.agent_status == AgentStatus::Active).count(),
        });
        CoalitionView {
            id: c.id,
            owner_id: c.owner_id,
            name: c.name.clone(),
            description: c.description.clone(),
            status: c.status,
            max_size: c.max_size,
            leader_id: detail.members.iter().find(|m| m.member.role == MemberRole::Leader).map(|m| m.member.agent_id),
            members: detail.members.iter().map(MemberView::from).collect(),
            objectives: detail.objectives.iter().map(ObjectiveView::from).collect(),
            performance_score: performance,
            cohesion_score: cohesion_score(detail.members.iter().map(|m| m.member.trust)),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
            dissolved_at: c.dissolved_at,
        }
    }
}

impl From<&Coalition> for CoalitionSummary {
    fn from(c: &Coalition) -> Self {
        CoalitionSummary {
            id: c.id,
            owner_id: c.owner_id,
            name: c.name.clone(),
            description: c.description.clone(),
            status: c.status,
            max_size: c.max_size,
            member_count: c.member_count,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
            dissolved_at: c.dissolved_at,
        }
    }
}
