//! Inputs and outputs of the coalition store, and the domain refusals its transactions can answer.
//!
//! Each write reads the coalition under its lock, asks the rules in `freeagentics_core::coalition`
//! what to do, applies the plan and returns the coalition as it now is ([`CoalitionDetail`]), from
//! which the caller's event is built inside the same transaction.
use crate::model::Cursor;
use freeagentics_core::AgentStatus;
use freeagentics_core::coalition::{
    CoalitionStatus, JoinError, Member, MemberRole, MembershipError, StatusTransitionError,
};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Coalition {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    pub status: CoalitionStatus,
    pub max_size: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub dissolved_at: Option<OffsetDateTime>,
    /// Members now (in a list page, where members are not loaded).
    pub member_count: i64,
}

/// A member with what the rules and scores need to know about its agent.
#[derive(Debug, Clone, PartialEq)]
pub struct CoalitionMember {
    pub member: Member,
    pub agent_status: AgentStatus,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CoalitionObjective {
    pub id: Uuid,
    pub coalition_id: Uuid,
    pub description: String,
    pub required_capabilities: Vec<String>,
    pub priority: f64,
    pub progress: f64,
    pub deadline: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A coalition with its members (join order) and objectives (creation order).
#[derive(Debug, Clone, PartialEq)]
pub struct CoalitionDetail {
    pub coalition: Coalition,
    pub members: Vec<CoalitionMember>,
    pub objectives: Vec<CoalitionObjective>,
}

#[derive(Debug, Clone)]
pub struct NewObjective {
    pub id: Uuid,
    pub description: String,
    pub required_capabilities: Vec<String>,
    pub priority: f64,
    pub progress: f64,
    pub deadline: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewCoalition {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: String,
    pub max_size: i64,
    pub objectives: Vec<NewObjective>,
}

/// A partial update; `None` leaves the field as it is. A status change is checked against the
/// status machine under the lock (dissolving sets `dissolved_at`).
#[derive(Debug, Clone, Default)]
pub struct CoalitionChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub max_size: Option<i64>,
    pub status: Option<CoalitionStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct CoalitionQuery {
    pub status: Option<CoalitionStatus>,
    pub owner_id: Option<Uuid>,
    /// Coalitions this agent is (or, once dissolved, was) a member of.
    pub member_agent_id: Option<Uuid>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// `POST …/members`: who joins, with which role (`None`: the rules choose), under which limit.
#[derive(Debug, Clone, Copy)]
pub struct JoinRequest {
    pub agent_id: Uuid,
    pub role: Option<MemberRole>,
    /// `COALITION_MAX_PER_AGENT`.
    pub max_coalitions: usize,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct MemberChange {
    pub role: Option<MemberRole>,
    pub contribution: Option<f64>,
    pub trust: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectiveChange {
    pub progress: Option<f64>,
    pub priority: Option<f64>,
}

/// One coalition a formation persists.
#[derive(Debug, Clone)]
pub struct FormedCoalitionWrite {
    pub coalition: NewCoalition,
    /// Members in the order they join; exactly one leader.
    pub members: Vec<(Uuid, MemberRole)>,
}

/// A formation to persist: its coalitions, all or nothing. Every member is re-checked under its
/// agent's lock (status, `max_coalitions`), so a concurrent join cannot push an agent over its limit.
#[derive(Debug, Clone)]
pub struct FormationWrite {
    pub coalitions: Vec<FormedCoalitionWrite>,
    pub max_coalitions: usize,
}

/// An agent as formation sees it: its capabilities and its current memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct FormationCandidate {
    pub agent_id: Uuid,
    pub owner_id: Uuid,
    pub status: AgentStatus,
    pub capabilities: Vec<String>,
    /// Coalitions (not dissolved) it belongs to now.
    pub coalitions: usize,
    /// Mean trust over those memberships (`None` when it has none).
    pub mean_trust: Option<f64>,
}

/// Coalitions per status, for the gauge.
pub type CoalitionStatusCounts = Vec<(CoalitionStatus, i64)>;

/// Why the rules refused a coalition change, decided inside the transaction that would have made
/// it (the API answers 409, or 422 for what the request itself got wrong).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoalitionRefusal {
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error(transparent)]
    Membership(#[from] MembershipError),
    #[error(transparent)]
    Status(#[from] StatusTransitionError),
    #[error("no agent {0}")]
    UnknownAgent(Uuid),
    #[error("no objective {0} in this coalition")]
    UnknownObjective(Uuid),
    #[error("the coalition's members do not cover the objective; missing capabilities: {}", .0.join(", "))]
    MissingCapabilities(Vec<String>),
    #[error("a dissolved coalition is kept as history and cannot change")]
    Dissolved,
    #[error("max_size {requested} is below the coalition's {members} members")]
    SizeBelowMembers { requested: i64, members: i64 },
}
