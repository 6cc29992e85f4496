//! What formation answers, and how the strategies' raw groupings become that answer: roles,
//! coverage, values, unassigned agents. Every strategy goes through [`build`], so they report
//! alike and are scored by one function.
use super::input::Strategy;
use super::problem::{AgentIx, Problem};
use crate::coalition::MemberRole;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A coalition with more members than this gets coordinators (the original's rule).
pub const COORDINATORS_ABOVE_SIZE: usize = 6;
pub const MAX_COORDINATORS: usize = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormationOutcome {
    pub strategy: Strategy,
    /// In formation order: the coalition of the highest-priority objective first.
    pub coalitions: Vec<FormedCoalition>,
    /// Candidates placed in no coalition, by id.
    pub unassigned_agents: Vec<Uuid>,
    /// One entry per objective, highest priority first (then earliest deadline, then id).
    pub objective_coverage: Vec<ObjectiveCoverage>,
    /// The share of objectives whose required capabilities are all covered.
    pub coverage_rate: f64,
    /// The sum of the coalitions' scores.
    pub total_score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormedCoalition {
    /// One objective, except for hierarchical coalitions, which may serve several.
    pub objective_ids: Vec<Uuid>,
    pub leader: Uuid,
    /// Leader first, then coordinators, then the other members by id.
    pub members: Vec<FormedMember>,
    /// The share of its objectives' required capabilities (together) that its members hold.
    pub coverage: f64,
    /// The sum of its value for each of its objectives.
    pub score: f64,
    /// Required capabilities no member holds, sorted; empty exactly when `covers_objectives`.
    pub uncovered_capabilities: Vec<String>,
    pub covers_objectives: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormedMember {
    pub agent_id: Uuid,
    pub role: MemberRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveCoverage {
    pub objective_id: Uuid,
    /// Index into [`FormationOutcome::coalitions`]; `None` when no coalition serves it.
    pub coalition: Option<usize>,
    pub coverage: f64,
    /// The value its coalition has for it (0 without a coalition).
    pub value: f64,
    pub missing_capabilities: Vec<String>,
}

/// A strategy's raw result: which agents serve which objectives, and who leads.
#[derive(Debug, Clone)]
pub(super) struct Assembly {
    pub objectives: Vec<usize>,
    pub members: Vec<AgentIx>,
    pub leader: AgentIx,
}

pub(super) fn build(problem: &Problem<'_>, strategy: Strategy, assemblies: Vec<Assembly>) -> FormationOutcome {
    let mut assigned = vec![false; problem.agents.len()];
    let mut per_objective: Vec<Option<ObjectiveCoverage>> = vec![None; problem.objectives.len()];
    let mut coalitions = Vec::with_capacity(assemblies.len());
    for (index, assembly) in assemblies.into_iter().enumerate() {
        let mut members = assembly.members;
        members.sort_unstable();
        for &member in &members {
            assigned[member as usize] = true;
        }
        let (mut score, mut required, mut missing) = (0.0, BTreeSet::new(), BTreeSet::new());
        for &objective in &assembly.objectives {
            let covered = members.iter().fold(0, |acc, &m| acc | problem.mask(m, objective));
            let value = problem.value(objective, &members, covered);
            score += value;
            let ids = problem.required(objective);
            let lacking: Vec<u32> =
                ids.iter().enumerate().filter(|(bit, _)| covered & (1 << bit) == 0).map(|(_, &id)| id).collect();
            required.extend(ids.iter().copied());
            missing.extend(lacking.iter().copied());
            per_objective[objective] = Some(ObjectiveCoverage {
                objective_id: problem.objectives[objective].id,
                coalition: Some(index),
                coverage: share(ids.len() - lacking.len(), ids.len()),
                value,
                missing_capabilities: names(problem, lacking),
            });
        }
        coalitions.push(FormedCoalition {
            objective_ids: assembly.objectives.iter().map(|&o| problem.objectives[o].id).collect(),
            leader: problem.agents[assembly.leader as usize].id,
            members: roles(problem, &members, assembly.leader),
            coverage: share(required.len() - missing.len(), required.len()),
            score,
            covers_objectives: missing.is_empty(),
            uncovered_capabilities: names(problem, missing),
        });
    }
    let objective_coverage: Vec<ObjectiveCoverage> = per_objective
        .into_iter()
        .enumerate()
        .map(|(objective, entry)| {
            entry.unwrap_or_else(|| ObjectiveCoverage {
                objective_id: problem.objectives[objective].id,
                coalition: None,
                coverage: 0.0,
                value: 0.0,
                missing_capabilities: names(problem, problem.required(objective).iter().copied()),
            })
        })
        .collect();
    let covered = objective_coverage.iter().filter(|o| o.missing_capabilities.is_empty()).count();
    FormationOutcome {
        strategy,
        total_score: coalitions.iter().map(|c| c.score).sum(),
        coverage_rate: share(covered, objective_coverage.len()),
        unassigned_agents: problem.agents.iter().zip(assigned).filter(|(_, a)| !a).map(|(agent, _)| agent.id).collect(),
        objective_coverage,
        coalitions,
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 1.0 } else { part as f64 / whole as f64 }
}

/// Capability ids are assigned in name order, so ascending ids give sorted names.
fn names(problem: &Problem<'_>, ids: impl IntoIterator<Item = u32>) -> Vec<String> {
    let mut ids: Vec<u32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(|id| problem.capability_name(id).to_owned()).collect()
}

/// Leader, then up to [`MAX_COORDINATORS`] coordinators (highest reputation, then lowest id) when
/// the coalition has more than [`COORDINATORS_ABOVE_SIZE`] members, then everyone else by id.
fn roles(problem: &Problem<'_>, members: &[AgentIx], leader: AgentIx) -> Vec<FormedMember> {
    let mut others: Vec<AgentIx> = members.iter().copied().filter(|&m| m != leader).collect();
    let coordinators = if members.len() > COORDINATORS_ABOVE_SIZE { MAX_COORDINATORS.min(others.len()) } else { 0 };
    let reputation = |m: AgentIx| problem.agents[m as usize].reputation;
    others.sort_by(|&a, &b| reputation(b).total_cmp(&reputation(a)).then(a.cmp(&b)));
    others[coordinators..].sort_unstable();
    let member = |m: AgentIx, role| FormedMember { agent_id: problem.agents[m as usize].id, role };
    std::iter::once(member(leader, MemberRole::Leader))
        .chain(others[..coordinators].iter().map(|&m| member(m, MemberRole::Coordinator)))
        .chain(others[coordinators..].iter().map(|&m| member(m, MemberRole::Member)))
        .collect()
}
