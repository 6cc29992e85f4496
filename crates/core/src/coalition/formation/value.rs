//! The value of a coalition serving one objective (the original's function):
//!
//! ```text
//! value = (0.4·coverage + 0.2·min(Σ capacity, 1) + 0.2·mean reputation + 0.2·synergy) × priority
//! ```
//!
//! - coverage: the share of the objective's required capabilities some member holds;
//! - synergy: the mean of `preference(a → b)` over ordered pairs of distinct members, a preference
//!   nobody stated counting 0.5; a single member has no pair and gets 0.5;
//! - an empty coalition is worth 0.
//!
//! Members are summed in id order, so a set has one value whatever order it was built in.
use super::input::{Candidate, FormationObjective};
use std::collections::HashSet;

/// What an unstated preference, and a coalition without pairs, counts as.
pub const NEUTRAL_PREFERENCE: f64 = 0.5;

/// The value of `members` serving `objective`, in any order.
pub fn coalition_value(objective: &FormationObjective, members: &[&Candidate]) -> f64 {
    let required: HashSet<&str> = objective.required_capabilities.iter().map(String::as_str).collect();
    let covered: HashSet<&str> = members
        .iter()
        .flat_map(|m| m.capabilities.iter().map(String::as_str))
        .filter(|c| required.contains(c))
        .collect();
    let coverage = if required.is_empty() { 1.0 } else { covered.len() as f64 / required.len() as f64 };
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|m| m.id);
    combine(coverage, &sorted, objective.priority)
}

/// The formula over members already in id order.
pub(super) fn combine(coverage: f64, members: &[&Candidate], priority: f64) -> f64 {
    if members.is_empty() {
        return 0.0;
    }
    let count = members.len() as f64;
    let capacity: f64 = members.iter().map(|m| m.capacity).sum();
    let reputation = members.iter().map(|m| m.reputation).sum::<f64>() / count;
    (0.4 * coverage + 0.2 * capacity.min(1.0) + 0.2 * reputation + 0.2 * synergy(members)) * priority
}

fn synergy(members: &[&Candidate]) -> f64 {
    if members.len() < 2 {
        return NEUTRAL_PREFERENCE;
    }
    let mut sum = 0.0;
    for a in members {
        for b in members {
            if a.id != b.id {
                sum += a.preferences.get(&b.id).copied().unwrap_or(NEUTRAL_PREFERENCE);
            }
        }
    }
    sum / (members.len() * (members.len() - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn agent(n: u128, capabilities: &[&str], capacity: f64, reputation: f64) -> Candidate {
        Candidate {
            id: Uuid::from_u128(n),
            capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
            capacity,
            reputation,
            preferences: BTreeMap::new(),
            slots: 1,
        }
    }

    fn objective(required: &[&str], priority: f64) -> FormationObjective {
        FormationObjective {
            id: Uuid::from_u128(100),
            required_capabilities: required.iter().map(|c| (*c).to_owned()).collect(),
            priority,
            deadline: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_single_member_by_hand() {
        let a = agent(1, &["x", "unrelated"], 0.6, 0.9);
        // coverage 1/2, capacity 0.6, reputation 0.9, synergy 0.5 (no pair)
        let expected = (0.4 * 0.5 + 0.2 * 0.6 + 0.2 * 0.9 + 0.2 * 0.5) * 0.8;
        assert!(close(coalition_value(&objective(&["x", "y"], 0.8), &[&a]), expected));
    }

    #[test]
    fn capacity_is_capped_and_synergy_averages_directed_preferences() {
        let mut a = agent(1, &["x"], 0.7, 1.0);
        let mut b = agent(2, &["y"], 0.7, 0.0);
        let c = agent(3, &[], 0.0, 0.5);
        a.preferences.insert(b.id, 1.0);
        a.preferences.insert(c.id, 0.0);
        b.preferences.insert(a.id, 0.2);
        // ordered pairs: a→b 1.0, a→c 0.0, b→a 0.2, b→c 0.5, c→a 0.5, c→b 0.5  => 2.7 / 6
        let expected = 0.4 * 1.0 + 0.2 * 1.0 + 0.2 * 0.5 + 0.2 * (2.7 / 6.0);
        assert!(close(coalition_value(&objective(&["x", "y"], 1.0), &[&a, &b, &c]), expected));
    }

    #[test]
    fn order_does_not_matter_and_empty_is_worth_nothing() {
        let mut a = agent(1, &["x"], 0.1, 0.3);
        let b = agent(2, &["y"], 0.2, 0.7);
        a.preferences.insert(b.id, 0.9);
        let o = objective(&["x", "y", "z"], 0.5);
        assert_eq!(coalition_value(&o, &[&a, &b]).to_bits(), coalition_value(&o, &[&b, &a]).to_bits());
        assert_eq!(coalition_value(&o, &[]), 0.0);
        assert_eq!(coalition_value(&objective(&["x"], 0.0), &[&a]), 0.0, "priority scales everything");
    }
}
