//! The input in the shape the strategies work on: agents in id order, objectives in formation
//! order, required capabilities interned to small integers, and each objective's requirements as
//! bit positions so "which capabilities does this agent bring" is one AND.
use super::input::{Candidate, FormationInput, FormationObjective};
use super::value;
use std::collections::{BTreeSet, HashMap};

/// Index of an agent in [`Problem::agents`] (id order).
pub(super) type AgentIx = u32;

#[derive(Debug)]
pub(super) struct Problem<'a> {
    pub agents: Vec<&'a Candidate>,
    /// Highest priority first, then earliest deadline (none last), then lowest id.
    pub objectives: Vec<&'a FormationObjective>,
    pub max_size: usize,
    /// Every capability some objective requires, sorted; a capability's id is its index here.
    capability_names: Vec<&'a str>,
    /// Per objective: the ids of its required capabilities; bit `j` of an objective mask is
    /// `required[o][j]`.
    required: Vec<Vec<u32>>,
    /// Per agent: the required capabilities it holds, sorted.
    held: Vec<Vec<u32>>,
    /// Per capability: the agents holding it, ascending.
    holders: Vec<Vec<AgentIx>>,
}

impl<'a> Problem<'a> {
    pub fn new(input: &'a FormationInput) -> Self {
        let mut agents: Vec<&Candidate> = input.candidates.iter().collect();
        agents.sort_by_key(|a| a.id);
        let mut objectives: Vec<&FormationObjective> = input.objectives.iter().collect();
        objectives.sort_by(|a, b| {
            b.priority
                .total_cmp(&a.priority)
                .then_with(|| match (a.deadline, b.deadline) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then_with(|| a.id.cmp(&b.id))
        });

        let names: BTreeSet<&str> =
            objectives.iter().flat_map(|o| o.required_capabilities.iter().map(String::as_str)).collect();
        let capability_names: Vec<&str> = names.into_iter().collect();
        let index: HashMap<&str, u32> = capability_names.iter().zip(0u32..).map(|(name, i)| (*name, i)).collect();
        let required = objectives
            .iter()
            .map(|o| {
                let mut ids: Vec<u32> =
                    o.required_capabilities.iter().filter_map(|c| index.get(c.as_str()).copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        let mut holders = vec![Vec::new(); capability_names.len()];
        let held = agents
            .iter()
            .zip(0..)
            .map(|(agent, ix)| {
                let mut ids: Vec<u32> =
                    agent.capabilities.iter().filter_map(|c| index.get(c.as_str()).copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                for &id in &ids {
                    holders[id as usize].push(ix);
                }
                ids
            })
            .collect();
        Self { agents, objectives, max_size: input.max_coalition_size, capability_names, required, held, holders }
    }

    pub fn required(&self, objective: usize) -> &[u32] {
        &self.required[objective]
    }

    pub fn holders(&self, capability: u32) -> &[AgentIx] {
        &self.holders[capability as usize]
    }

    pub fn held(&self, agent: AgentIx) -> &[u32] {
        &self.held[agent as usize]
    }

    pub fn capability_count(&self) -> usize {
        self.capability_names.len()
    }

    pub fn capability_name(&self, capability: u32) -> &'a str {
        self.capability_names[capability as usize]
    }

    /// The objective's requirements as a full mask.
    pub fn full_mask(&self, objective: usize) -> u64 {
        let n = self.required[objective].len();
        if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
    }

    /// Which of the objective's required capabilities the agent holds.
    pub fn mask(&self, agent: AgentIx, objective: usize) -> u64 {
        let (held, required) = (self.held(agent), self.required(objective));
        let (mut i, mut j, mut mask) = (0, 0, 0u64);
        while i < held.len() && j < required.len() {
            match held[i].cmp(&required[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    mask |= 1 << j;
                    i += 1;
                    j += 1;
                }
            }
        }
        mask
    }

    /// The agents holding at least one of the objective's requirements and accepted by `keep`,
    /// ascending, each with its mask. `scratch` must be all zeros and `agents.len()` long; it is
    /// left that way.
    pub fn relevant(
        &self,
        objective: usize,
        scratch: &mut [u64],
        keep: impl Fn(AgentIx) -> bool,
    ) -> Vec<(AgentIx, u64)> {
        let mut touched = Vec::new();
        for (bit, &capability) in self.required[objective].iter().enumerate() {
            for &agent in self.holders(capability) {
                if !keep(agent) {
                    continue;
                }
                let slot = &mut scratch[agent as usize];
                if *slot == 0 {
                    touched.push(agent);
                }
                *slot |= 1 << bit;
            }
        }
        touched.sort_unstable();
        touched.into_iter().map(|agent| (agent, std::mem::take(&mut scratch[agent as usize]))).collect()
    }

    /// The value of `members` (ascending) serving `objective`, of which they cover `covered`.
    pub fn value(&self, objective: usize, members: &[AgentIx], covered: u64) -> f64 {
        let required = self.required[objective].len();
        let coverage = if required == 0 { 1.0 } else { f64::from(covered.count_ones()) / required as f64 };
        let members: Vec<&Candidate> = members.iter().map(|&m| self.agents[m as usize]).collect();
        value::combine(coverage, &members, self.objectives[objective].priority)
    }
}
