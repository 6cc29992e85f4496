//! From stored agents to a formation input, and from a formation outcome to the coalitions to
//! persist. The algorithms themselves are pure (`freeagentics_core::coalition::formation`).
use freeagentics_core::coalition::formation::{Candidate, FormationObjective};
use freeagentics_core::coalition::membership::DEFAULT_TRUST;
use freeagentics_core::coalition::{FormationOutcome, Strategy};
use freeagentics_store::{FormationCandidate, FormedCoalitionWrite, NewCoalition, NewObjective};
use std::collections::BTreeMap;
use uuid::Uuid;

/// An agent as a formation candidate:
/// - `slots`: coalitions it may still join (`COALITION_MAX_PER_AGENT` minus its current ones);
/// - `capacity`: the share of its limit still free (a fully committed agent brings nothing);
/// - `reputation`: its mean trust in the coalitions it is in (new agents start fully trusted, as
///   members do);
/// - no preferences (synergy then takes the neutral 0.5).
pub fn candidate(agent: &FormationCandidate, max_per_agent: usize) -> Candidate {
    let slots = max_per_agent.saturating_sub(agent.coalitions);
    Candidate {
        id: agent.agent_id,
        capabilities: agent.capabilities.clone(),
        capacity: if max_per_agent == 0 { 0.0 } else { slots as f64 / max_per_agent as f64 },
        reputation: agent.mean_trust.unwrap_or(DEFAULT_TRUST).clamp(0.0, 1.0),
        preferences: BTreeMap::new(),
        slots,
    }
}

/// One objective as the request gave it, with the id formation knows it by.
#[derive(Debug, Clone)]
pub struct RequestedObjective {
    pub objective: NewObjective,
}

impl RequestedObjective {
    pub fn formation(&self) -> FormationObjective {
        FormationObjective {
            id: self.objective.id,
            required_capabilities: self.objective.required_capabilities.clone(),
            priority: self.objective.priority,
            deadline: self.objective.deadline,
        }
    }
}

const NAME_MAX: usize = 100;
const DESCRIPTION_MAX: usize = 2000;

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The coalitions to persist: one per formed coalition, owned by the caller, named after its first
/// objective, carrying the objectives it serves, with the members and roles formation chose.
pub fn writes(
    outcome: &FormationOutcome,
    objectives: &[RequestedObjective],
    owner_id: Uuid,
    max_size: i64,
    strategy: Strategy,
    ids: &mut impl FnMut() -> Uuid,
) -> Vec<FormedCoalitionWrite> {
    outcome
        .coalitions
        .iter()
        .map(|formed| {
            let served: Vec<NewObjective> = formed
                .objective_ids
                .iter()
                .filter_map(|id| objectives.iter().find(|o| o.objective.id == *id))
                .map(|o| o.objective.clone())
                .collect();
            let first = served.first().map_or("objectives", |o| o.description.as_str());
            let all = served.iter().map(|o| o.description.as_str()).collect::<Vec<_>>().join("; ");
            FormedCoalitionWrite {
                coalition: NewCoalition {
                    id: ids(),
                    owner_id,
                    name: truncate(first, NAME_MAX),
                    description: truncate(&format!("Formed ({strategy}) for: {all}"), DESCRIPTION_MAX),
                    max_size: max_size.max(formed.members.len() as i64),
                    objectives: served,
                },
                members: formed.members.iter().map(|m| (m.agent_id, m.role)).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use freeagentics_core::AgentStatus;

    #[test]
    fn candidates_take_their_slots_capacity_and_reputation_from_their_memberships() {
        let agent = FormationCandidate {
            agent_id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(2),
            status: AgentStatus::Active,
            capabilities: vec!["a".to_owned()],
            coalitions: 1,
            mean_trust: Some(0.4),
        };
        let c = candidate(&agent, 3);
        assert_eq!(c.slots, 2);
        assert!((c.capacity - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.reputation - 0.4).abs() < 1e-12);
        let full = FormationCandidate { coalitions: 5, mean_trust: None, ..agent };
        let c = candidate(&full, 3);
        assert_eq!((c.slots, c.capacity, c.reputation), (0, 0.0, 1.0));
    }

    #[test]
    fn names_are_cut_to_their_limits() {
        assert_eq!(truncate("short", 100), "short");
        let long = "é".repeat(150);
        let cut = truncate(&long, 100);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with('…'));
    }
}
