//! Membership rules: who may join, who leads, what a leave or a role change does.
//!
//! Every function here is a pure decision over a snapshot of the coalition; the store applies the
//! plan inside the transaction (or under the row lock) that read the snapshot, so two concurrent
//! requests cannot both act on the same stale view.
//!
//! Invariant kept by these plans: a coalition with members has exactly one leader.
//! - The first member leads, whatever role it asked for; a later member that asks to lead takes
//!   over and the previous leader becomes a plain member.
//! - When the leader leaves or steps down, the successor is chosen by [`elect_leader`].
//! - The last member leaving dissolves the coalition.
use super::{CoalitionStatus, MemberRole};
use crate::validation::check_unit_interval;
use crate::{AgentStatus, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use time::OffsetDateTime;
use uuid::Uuid;

/// `COALITION_MAX_PER_AGENT`'s default: coalitions (not yet dissolved) one agent may belong to.
pub const DEFAULT_MAX_COALITIONS_PER_AGENT: usize = 3;
/// The largest `max_size` a coalition may have.
pub const MAX_COALITION_SIZE: usize = 100;
/// A new member has contributed nothing yet and is fully trusted (the original's defaults).
pub const DEFAULT_CONTRIBUTION: f64 = 0.0;
pub const DEFAULT_TRUST: f64 = 1.0;

/// A member as the rules see it. Contribution and trust are both 0–1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub agent_id: Uuid,
    pub role: MemberRole,
    pub contribution: f64,
    pub trust: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

/// Who leads among `candidates`: observers only when nobody else is left (an observer watches, it
/// does not run the coalition), then the highest contribution × trust, then the earliest join, then
/// the lowest agent id so the choice never depends on row order.
pub fn elect_leader(candidates: &[Member]) -> Option<Uuid> {
    candidates.iter().min_by(|a, b| succession_order(a, b)).map(|m| m.agent_id)
}

fn succession_order(a: &Member, b: &Member) -> Ordering {
    let observer = |m: &Member| m.role == MemberRole::Observer;
    observer(a)
        .cmp(&observer(b))
        .then_with(|| (b.contribution * b.trust).total_cmp(&(a.contribution * a.trust)))
        .then_with(|| a.joined_at.cmp(&b.joined_at))
        .then_with(|| a.agent_id.cmp(&b.agent_id))
}

/// The coalition side of a join request.
#[derive(Debug, Clone, Copy)]
pub struct JoinTarget<'a> {
    pub status: CoalitionStatus,
    pub max_size: usize,
    pub members: &'a [Member],
}

/// The agent side of a join request.
#[derive(Debug, Clone, Copy)]
pub struct Joiner {
    pub agent_id: Uuid,
    pub agent_status: AgentStatus,
    /// `None` lets the rules choose: leader for the first member, member otherwise.
    pub requested_role: Option<MemberRole>,
    /// Coalitions the agent already belongs to that count toward its limit
    /// ([`CoalitionStatus::counts_toward_agent_limit`]).
    pub current_coalitions: usize,
    pub max_coalitions: usize,
}

/// What a successful join does: the role the agent gets, and the leader it displaces, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinPlan {
    pub role: MemberRole,
    pub demoted_leader: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("a coalition in status {status} accepts no new members (only forming and active ones do)")]
    CoalitionClosed { status: CoalitionStatus },
    #[error("the agent is already a member of this coalition")]
    AlreadyMember,
    #[error("an agent in status {status} cannot join a coalition (stopped and errored agents cannot)")]
    AgentIneligible { status: AgentStatus },
    #[error("the coalition is full ({max_size} members)")]
    CoalitionFull { max_size: usize },
    #[error("the agent already belongs to {current} coalitions, its limit is {limit}")]
    AgentAtLimit { current: usize, limit: usize },
}

/// Decides a join. Rules are checked in this order and the first failure is reported: the
/// coalition accepts members, the agent is not already in it, the agent's status allows it, a slot
/// is free, the agent is under its coalition limit.
pub fn check_join(target: JoinTarget<'_>, joiner: Joiner) -> Result<JoinPlan, JoinError> {
    if !target.status.accepts_members() {
        return Err(JoinError::CoalitionClosed { status: target.status });
    }
    if target.members.iter().any(|m| m.agent_id == joiner.agent_id) {
        return Err(JoinError::AlreadyMember);
    }
    if !joiner.agent_status.may_join_coalition() {
        return Err(JoinError::AgentIneligible { status: joiner.agent_status });
    }
    if target.members.len() >= target.max_size {
        return Err(JoinError::CoalitionFull { max_size: target.max_size });
    }
    if joiner.current_coalitions >= joiner.max_coalitions {
        return Err(JoinError::AgentAtLimit { current: joiner.current_coalitions, limit: joiner.max_coalitions });
    }
    if target.members.is_empty() {
        return Ok(JoinPlan { role: MemberRole::Leader, demoted_leader: None });
    }
    let role = joiner.requested_role.unwrap_or(MemberRole::Member);
    let demoted_leader = (role == MemberRole::Leader).then(|| current_leader(target.members)).flatten();
    Ok(JoinPlan { role, demoted_leader })
}

fn current_leader(members: &[Member]) -> Option<Uuid> {
    members.iter().find(|m| m.role == MemberRole::Leader).map(|m| m.agent_id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("the agent is not a member of this coalition")]
    NotMember,
    #[error("the only member must lead; add another member before changing its role")]
    LeaderRequired,
}

/// What a leave does: who leads afterwards (when leadership changes) and whether the coalition
/// dissolves because nobody is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeavePlan {
    pub new_leader: Option<Uuid>,
    pub dissolves: bool,
}

pub fn plan_leave(members: &[Member], leaving: Uuid) -> Result<LeavePlan, MembershipError> {
    if !members.iter().any(|m| m.agent_id == leaving) {
        return Err(MembershipError::NotMember);
    }
    let remaining: Vec<Member> = members.iter().filter(|m| m.agent_id != leaving).cloned().collect();
    if remaining.is_empty() {
        return Ok(LeavePlan { new_leader: None, dissolves: true });
    }
    // Also repairs a snapshot that somehow has no leader, rather than carrying the gap forward.
    let new_leader = if current_leader(&remaining).is_none() { elect_leader(&remaining) } else { None };
    Ok(LeavePlan { new_leader, dissolves: false })
}

/// What a role change does besides setting the member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChangePlan {
    /// The previous leader, now a plain member, when someone else was made leader.
    pub demoted_leader: Option<Uuid>,
    /// The successor, when the leader stepped down to another role.
    pub new_leader: Option<Uuid>,
}

pub fn plan_role_change(
    members: &[Member],
    agent_id: Uuid,
    role: MemberRole,
) -> Result<RoleChangePlan, MembershipError> {
    let member = members.iter().find(|m| m.agent_id == agent_id).ok_or(MembershipError::NotMember)?;
    let unchanged = RoleChangePlan { demoted_leader: None, new_leader: None };
    if member.role == role {
        return Ok(unchanged);
    }
    if role == MemberRole::Leader {
        return Ok(RoleChangePlan { demoted_leader: current_leader(members), new_leader: None });
    }
    if member.role == MemberRole::Leader {
        let others: Vec<Member> = members.iter().filter(|m| m.agent_id != agent_id).cloned().collect();
        let successor = elect_leader(&others).ok_or(MembershipError::LeaderRequired)?;
        return Ok(RoleChangePlan { demoted_leader: None, new_leader: Some(successor) });
    }
    Ok(unchanged)
}

/// Checks the numbers a member update may carry (`PATCH …/members/{agent_id}`).
pub fn validate_member_scores(contribution: Option<f64>, trust: Option<f64>) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if let Some(contribution) = contribution {
        errors.check("contribution", check_unit_interval(contribution));
    }
    if let Some(trust) = trust {
        errors.check("trust", check_unit_interval(trust));
    }
    errors
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
