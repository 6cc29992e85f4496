//! Optimal: an exact dynamic programme over the objectives (see the module documentation of
//! `formation` for what it maximises).
//!
//! The objectives are taken in formation order; the state between two objectives is, for every
//! eligible agent, how many more coalitions it can still join. That count is clamped to the number
//! of remaining objectives the agent is relevant to (two agents that can join "3 more" and "4 more"
//! of 2 remaining objectives are in the same position), which keeps the state space at most
//! `(min(k, m − k, s, m − s) + 1)^n` for n agents with s slots before objective k of m. For each
//! state, every subset of the agents that are relevant to the objective and still have a slot is
//! tried as its coalition (the empty set meaning "no coalition"). The best total per state is kept
//! with a back-pointer, so the search is exhaustive over the feasible space without enumerating it.
//!
//! Agents that can join without changing the state (they keep a slot for every objective left)
//! are folded into a per-objective table instead of multiplying the transitions ([`FreeJoiners`]).
//!
//! Worst case at the limit (8 agents relevant to all 8 objectives, 4 slots each): 3.7·10⁷
//! transitions over at most 5⁸ = 390,625 states per step; see docs/PERFORMANCE.md for the
//! measured time.
use super::FormationError;
use super::outcome::Assembly;
use super::problem::{AgentIx, Problem};

/// Eligible agents (a free slot and at least one capability some objective requires).
pub const OPTIMAL_MAX_AGENTS: usize = 8;
pub const OPTIMAL_MAX_OBJECTIVES: usize = 8;
// A back-pointer packs the previous state (24 bits) and the chosen subset (8 bits) in a u32.
const _: () = assert!(OPTIMAL_MAX_AGENTS <= 8, "subsets are packed in 8 bits");
const MAX_STATES: usize = 1 << 24;

/// How states are numbered before one objective: a mixed-radix number with one digit per agent,
/// the digit being (effective free slots − `lo`).
struct Layout {
    lo: Vec<i64>,
    radix: Vec<i64>,
    weight: Vec<i64>,
    states: usize,
}

pub(super) fn assemble(problem: &Problem<'_>) -> Result<Vec<Assembly>, FormationError> {
    let objectives = problem.objectives.len();
    let mut scratch = vec![0u64; problem.agents.len()];
    let relevant: Vec<Vec<(AgentIx, u64)>> =
        (0..objectives).map(|o| problem.relevant(o, &mut scratch, |a| problem.agents[a as usize].slots > 0)).collect();
    let mut eligible: Vec<AgentIx> = relevant.iter().flatten().map(|&(a, _)| a).collect();
    eligible.sort_unstable();
    eligible.dedup();
    let n = eligible.len();
    if n > OPTIMAL_MAX_AGENTS || objectives > OPTIMAL_MAX_OBJECTIVES {
        return Err(too_large(n, objectives));
    }

    // Per objective: which eligible agents (by position in `eligible`) are relevant, and their masks.
    let local = |a: AgentIx| eligible.binary_search(&a).unwrap_or_default();
    let mut rel = vec![0usize; objectives];
    let mut masks = vec![vec![0u64; n]; objectives];
    for (o, list) in relevant.iter().enumerate() {
        for &(agent, mask) in list {
            rel[o] |= 1 << local(agent);
            masks[o][local(agent)] = mask;
        }
    }

    let values: Vec<Vec<f64>> =
        (0..objectives).map(|o| subset_values(problem, o, &eligible, rel[o], &masks[o])).collect();

    // remaining[a][k]: objectives k.. the agent is relevant to.
    let remaining: Vec<Vec<i64>> = (0..n)
        .map(|a| {
            let mut counts = vec![0i64; objectives + 1];
            for k in (0..objectives).rev() {
                counts[k] = counts[k + 1] + i64::from(rel[k] >> a & 1 == 1);
            }
            counts
        })
        .collect();
    let slots: Vec<i64> = eligible
        .iter()
        .zip(&remaining)
        .map(|(&a, r)| i64::try_from(problem.agents[a as usize].slots).unwrap_or(i64::MAX).min(r[0]))
        .collect();
    let layouts: Vec<Layout> = (0..=objectives)
        .map(|k| layout(&slots, &remaining, k))
        .collect::<Option<_>>()
        .ok_or_else(|| too_large(n, objectives))?;

    let choices = search(&layouts, &remaining, &rel, &values);
    Ok(choices
        .into_iter()
        .enumerate()
        .filter(|&(_, subset)| subset != 0)
        .map(|(o, subset)| {
            let members: Vec<AgentIx> = (0..n).filter(|&a| subset >> a & 1 == 1).map(|a| eligible[a]).collect();
            let leader = choose_leader(problem, o, &members);
            Assembly { objectives: vec![o], members, leader }
        })
        .collect())
}

fn too_large(agents: usize, objectives: usize) -> FormationError {
    FormationError::TooLargeForOptimal {
        agents,
        objectives,
        max_agents: OPTIMAL_MAX_AGENTS,
        max_objectives: OPTIMAL_MAX_OBJECTIVES,
    }
}

/// The value of every subset of the relevant agents that fits in a coalition; `-∞` marks the
/// subsets that may not be chosen.
fn subset_values(problem: &Problem<'_>, objective: usize, eligible: &[AgentIx], rel: usize, masks: &[u64]) -> Vec<f64> {
    let mut values = vec![f64::NEG_INFINITY; 1 << eligible.len()];
    let mut subset = rel;
    loop {
        if subset.count_ones() as usize <= problem.max_size {
            let locals = (0..eligible.len()).filter(|&a| subset >> a & 1 == 1);
            let covered = locals.clone().fold(0, |acc, a| acc | masks[a]);
            let members: Vec<AgentIx> = locals.map(|a| eligible[a]).collect();
            values[subset] = problem.value(objective, &members, covered);
        }
        if subset == 0 {
            break;
        }
        subset = (subset - 1) & rel;
    }
    values
}

fn layout(slots: &[i64], remaining: &[Vec<i64>], k: usize) -> Option<Layout> {
    let mut layout = Layout { lo: Vec::new(), radix: Vec::new(), weight: Vec::new(), states: 1 };
    for (&s, r) in slots.iter().zip(remaining) {
        let (left, done) = (r[k], r[0] - r[k]);
        let lo = (s - done).max(0).min(left);
        let hi = s.min(left);
        layout.lo.push(lo);
        layout.radix.push(hi - lo + 1);
        layout.weight.push(i64::try_from(layout.states).ok()?);
        layout.states = layout.states.checked_mul(usize::try_from(hi - lo + 1).ok()?)?;
    }
    // A state number must fit the packed back-pointers (the limit needs at most 5⁸ = 390,625).
    (layout.states <= MAX_STATES).then_some(layout)
}

/// Returns, per objective, the chosen subset of eligible agents (bit a = `eligible[a]`).
fn search(layouts: &[Layout], remaining: &[Vec<i64>], rel: &[usize], values: &[Vec<f64>]) -> Vec<usize> {
    let n = remaining.len();
    let mut best = vec![f64::NEG_INFINITY; layouts[0].states];
    best[0] = 0.0;
    let mut back: Vec<Vec<u32>> = Vec::with_capacity(rel.len());
    let mut subset_of = [0usize; 1 << OPTIMAL_MAX_AGENTS];
    let mut offset_of = [0i64; 1 << OPTIMAL_MAX_AGENTS];
    let mut shifting: Vec<(usize, i64)> = Vec::with_capacity(n);
    for (k, (&relevant, values)) in rel.iter().zip(values).enumerate() {
        let (now, next) = (&layouts[k], &layouts[k + 1]);
        let free_joiners = FreeJoiners::new(values, n);
        let mut next_best = vec![f64::NEG_INFINITY; next.states];
        let mut from = vec![0u32; next.states];
        for (code, &so_far) in best.iter().enumerate() {
            if so_far == f64::NEG_INFINITY {
                continue;
            }
            // Where this state goes if nobody joins, which joiners shift that (and by how much), and
            // which join without changing it (they keep a slot for every objective left).
            shifting.clear();
            let (mut base, mut free_mask) = (0i64, 0usize);
            for (a, left) in remaining.iter().enumerate() {
                let free = now.lo[a] + (code as i64 / now.weight[a]) % now.radix[a];
                let is_relevant = relevant >> a & 1 == 1;
                let stays = if is_relevant { free.min(left[k] - 1) } else { free };
                base += (stays - next.lo[a]) * next.weight[a];
                if is_relevant && free >= 1 {
                    if free - 1 == stays {
                        free_mask |= 1 << a;
                    } else {
                        shifting.push((a, (free - 1 - stays) * next.weight[a]));
                    }
                }
            }
            let row = free_joiners.row(free_mask);
            for t in 0..1usize << shifting.len() {
                if t > 0 {
                    let (agent, shift) = shifting[t.trailing_zeros() as usize];
                    subset_of[t] = subset_of[t & (t - 1)] | 1 << agent;
                    offset_of[t] = offset_of[t & (t - 1)] + shift;
                }
                let total = so_far + row.value[subset_of[t]];
                let target = (base + offset_of[t]) as usize;
                if total > next_best[target] {
                    next_best[target] = total;
                    let subset = subset_of[t] | usize::from(row.pick[subset_of[t]]);
                    from[target] = (code << 8 | subset) as u32;
                }
            }
        }
        best = next_best;
        back.push(from);
    }
    // After the last objective every agent's count is clamped to 0: one final state, number 0.
    let mut code = 0usize;
    let mut choices = vec![0usize; rel.len()];
    for k in (0..rel.len()).rev() {
        let packed = back[k][code] as usize;
        choices[k] = packed & 0xff;
        code = packed >> 8;
    }
    choices
}

/// Agents whose joining leaves the state unchanged do not need a transition each: for every set
/// `free` of such agents and every subset `base` of the others, this holds the best value of
/// `base ∪ (some subset of free)` and that subset (on a tie an agent is left out). Built in O(4ⁿ)
/// per objective, it cuts the transitions per state from 2^(available) to 2^(available that shift
/// the state).
struct Row<'a> {
    value: &'a [f64],
    pick: &'a [u8],
}

struct FreeJoiners {
    size: usize,
    value: Vec<f64>,
    pick: Vec<u8>,
}

impl FreeJoiners {
    fn new(values: &[f64], n: usize) -> Self {
        let size = 1usize << n;
        let mut table = Self { size, value: vec![f64::NEG_INFINITY; size * size], pick: vec![0; size * size] };
        table.value[..size].copy_from_slice(values);
        for free in 1..size {
            let (agent, rest) = (free & free.wrapping_neg(), free & (free - 1));
            for base in (0..size).filter(|b| b & free == 0) {
                let without = rest * size + base;
                let with = rest * size + (base | agent);
                let (from, extra) =
                    if table.value[with] > table.value[without] { (with, agent as u8) } else { (without, 0) };
                table.value[free * size + base] = table.value[from];
                table.pick[free * size + base] = table.pick[from] | extra;
            }
        }
        table
    }

    /// For one set of free joiners: per subset of the others, the best value and the free joiners
    /// that achieve it.
    fn row(&self, free: usize) -> Row<'_> {
        let range = free * self.size..(free + 1) * self.size;
        Row { value: &self.value[range.clone()], pick: &self.pick[range] }
    }
}

/// The original's hierarchical rule, used for every coalition optimal forms: the member with the
/// highest reputation × number of the objective's required capabilities it holds (ties: lowest id).
fn choose_leader(problem: &Problem<'_>, objective: usize, members: &[AgentIx]) -> AgentIx {
    let score = |m: AgentIx| problem.agents[m as usize].reputation * f64::from(problem.mask(m, objective).count_ones());
    let mut leader = members[0];
    for &m in &members[1..] {
        if score(m) > score(leader) {
            leader = m;
        }
    }
    leader
}
