//! Hierarchical: objectives whose requirements overlap share one coalition, organised as a leader,
//! specialists and, in larger coalitions, coordinators.
//!
//! 1. Objectives, highest priority first, each join the first group whose combined requirements
//!    have a Jaccard similarity above [`GROUPING_JACCARD`] with theirs, or start a new group.
//! 2. Each group, in creation order, is led by the candidate with a free slot maximising
//!    `reputation × number of the group's required capabilities it holds` (ties: lowest id). A
//!    group nobody can lead gets no coalition.
//! 3. For each objective of the group in turn, up to [`SPECIALISTS_PER_OBJECTIVE`] specialists are
//!    added by the greedy rule (the candidate bringing the best share of what the objective still
//!    misses × reputation × capacity), while the coalition has room.
//! 4. Coordinators follow the common rule (more than six members: up to two, by reputation).
use super::greedy::pick_until_covered;
use super::outcome::Assembly;
use super::problem::{AgentIx, Problem};

pub const GROUPING_JACCARD: f64 = 0.3;
pub const SPECIALISTS_PER_OBJECTIVE: usize = 3;

struct Group {
    objectives: Vec<usize>,
    /// The union of the objectives' required capabilities, one bit per capability id.
    capabilities: Vec<u64>,
}

pub(super) fn assemble(problem: &Problem<'_>) -> Vec<Assembly> {
    let groups = group_objectives(problem);
    let agents = problem.agents.len();
    let mut slots: Vec<usize> = problem.agents.iter().map(|a| a.slots).collect();
    let mut scratch = vec![0u64; agents];
    let mut held_count = vec![0u32; agents];
    // `member_of[a] == g + 1` while group g is being staffed: no clearing between groups.
    let mut member_of = vec![0usize; agents];
    let mut assemblies = Vec::new();
    for (g, group) in groups.into_iter().enumerate() {
        let Some(leader) = choose_leader(problem, &group.capabilities, &slots, &mut held_count) else { continue };
        let mut members = vec![leader];
        member_of[leader as usize] = g + 1;
        for &objective in &group.objectives {
            let room = problem.max_size.saturating_sub(members.len());
            if room == 0 {
                break;
            }
            let free = |a: AgentIx| slots[a as usize] > 0 && member_of[a as usize] != g + 1;
            let relevant = problem.relevant(objective, &mut scratch, free);
            let covered = members.iter().fold(0, |acc, &m| acc | problem.mask(m, objective));
            let missing = problem.full_mask(objective) & !covered;
            for pick in pick_until_covered(problem, objective, &relevant, missing, room.min(SPECIALISTS_PER_OBJECTIVE))
            {
                member_of[pick as usize] = g + 1;
                members.push(pick);
            }
        }
        for &m in &members {
            slots[m as usize] -= 1;
        }
        assemblies.push(Assembly { objectives: group.objectives, members, leader });
    }
    assemblies
}

fn group_objectives(problem: &Problem<'_>) -> Vec<Group> {
    let words = problem.capability_count().div_ceil(64);
    let mut groups: Vec<Group> = Vec::new();
    for objective in 0..problem.objectives.len() {
        let mut set = vec![0u64; words];
        for &capability in problem.required(objective) {
            set[capability as usize / 64] |= 1 << (capability % 64);
        }
        match groups.iter_mut().find(|g| jaccard(&set, &g.capabilities) > GROUPING_JACCARD) {
            Some(group) => {
                group.objectives.push(objective);
                for (union, word) in group.capabilities.iter_mut().zip(&set) {
                    *union |= word;
                }
            }
            None => groups.push(Group { objectives: vec![objective], capabilities: set }),
        }
    }
    groups
}

fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut both, mut either) = (0u32, 0u32);
    for (x, y) in a.iter().zip(b) {
        both += (x & y).count_ones();
        either += (x | y).count_ones();
    }
    if either == 0 { 0.0 } else { f64::from(both) / f64::from(either) }
}

/// `held_count` must be all zeros and is left that way.
fn choose_leader(problem: &Problem<'_>, union: &[u64], slots: &[usize], held_count: &mut [u32]) -> Option<AgentIx> {
    let mut touched = Vec::new();
    for (w, &word) in union.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let capability = (w * 64) as u32 + bits.trailing_zeros();
            bits &= bits - 1;
            for &agent in problem.holders(capability) {
                if slots[agent as usize] == 0 {
                    continue;
                }
                if held_count[agent as usize] == 0 {
                    touched.push(agent);
                }
                held_count[agent as usize] += 1;
            }
        }
    }
    let mut best: Option<(AgentIx, f64)> = None;
    for &agent in &touched {
        let score = problem.agents[agent as usize].reputation * f64::from(held_count[agent as usize]);
        held_count[agent as usize] = 0;
        let better = best
            .is_none_or(|(best_agent, best_score)| score.total_cmp(&best_score).then(best_agent.cmp(&agent)).is_gt());
        if better {
            best = Some((agent, score));
        }
    }
    best.map(|(agent, _)| agent)
}
