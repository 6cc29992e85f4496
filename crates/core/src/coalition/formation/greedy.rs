//! Greedy: one coalition per objective, highest priority first. Each step adds the candidate with
//! the best `(missing capabilities it brings / capabilities required) × reputation × capacity`
//! (ties: more capabilities brought, then lowest id) among those that bring at least one missing
//! capability and have a free slot, until the objective is covered, the coalition is full, or no
//! candidate brings anything more. The first pick leads.
use super::outcome::Assembly;
use super::problem::{AgentIx, Problem};

pub(super) fn assemble(problem: &Problem<'_>) -> Vec<Assembly> {
    let mut slots: Vec<usize> = problem.agents.iter().map(|a| a.slots).collect();
    let mut scratch = vec![0u64; problem.agents.len()];
    let mut assemblies = Vec::new();
    for objective in 0..problem.objectives.len() {
        let relevant = problem.relevant(objective, &mut scratch, |a| slots[a as usize] > 0);
        let members = pick_until_covered(problem, objective, &relevant, problem.full_mask(objective), problem.max_size);
        if let Some(&leader) = members.first() {
            for &m in &members {
                slots[m as usize] -= 1;
            }
            assemblies.push(Assembly { objectives: vec![objective], members, leader });
        }
    }
    assemblies
}

/// Picks from `relevant` (ascending, with masks; already filtered to agents with a free slot) until
/// `missing` is empty, `limit` agents are picked, or nobody brings a missing capability. Returns the
/// picks in order.
pub(super) fn pick_until_covered(
    problem: &Problem<'_>,
    objective: usize,
    relevant: &[(AgentIx, u64)],
    mut missing: u64,
    limit: usize,
) -> Vec<AgentIx> {
    let required = problem.required(objective).len() as f64;
    let mut taken = vec![false; relevant.len()];
    let mut picks = Vec::new();
    while missing != 0 && picks.len() < limit {
        let mut best: Option<(usize, f64, u32)> = None;
        for (i, &(agent, mask)) in relevant.iter().enumerate() {
            let brings = (mask & missing).count_ones();
            if taken[i] || brings == 0 {
                continue;
            }
            let candidate = problem.agents[agent as usize];
            let score = f64::from(brings) / required * candidate.reputation * candidate.capacity;
            // Strictly better only, so equal candidates resolve to the lowest id (scan order).
            let better = best.is_none_or(|(_, best_score, best_brings)| {
                score.total_cmp(&best_score).then(brings.cmp(&best_brings)).is_gt()
            });
            if better {
                best = Some((i, score, brings));
            }
        }
        let Some((i, _, _)) = best else { break };
        taken[i] = true;
        missing &= !relevant[i].1;
        picks.push(relevant[i].0);
    }
    picks
}
