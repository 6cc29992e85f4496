//! Coalitions: status machine, member roles, objectives, membership rules, scores and formation.
//! Everything here decides; the store and the API act on the decisions.
pub mod fields;
pub mod formation;
pub mod membership;
pub mod objective;
mod role;
pub mod scores;
mod status;

pub use fields::{DEFAULT_MAX_SIZE, DESCRIPTION_MAX_CHARS, OBJECTIVES_MAX, validate_description, validate_max_size};
pub use formation::{FormationError, FormationInput, FormationLimits, FormationOutcome, Strategy, form};
pub use membership::{
    JoinError, JoinPlan, JoinTarget, Joiner, LeavePlan, Member, MembershipError, RoleChangePlan, check_join,
    elect_leader, plan_leave, plan_role_change,
};
pub use objective::{
    Objective, missing_capabilities, validate_capability, validate_objective, validate_required_capabilities,
};
pub use role::MemberRole;
pub use scores::{PerformanceInputs, cohesion_score, performance_score};
pub use status::{CoalitionStatus, StatusTransitionError, status_after_member_left, status_after_objectives_changed};
