//! Property tests of coalition formation on random instances: `optimal` equals a brute-force search
//! and is never worse than `greedy`; every strategy keeps the rules (coverage reported honestly,
//! limits respected, scores consistent) and answers the same input the same way in any order.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use freeagentics_core::coalition::MemberRole;
use freeagentics_core::coalition::formation::{
    Candidate, FormationInput, FormationLimits, FormationObjective, FormationOutcome, Strategy as Algorithm,
    coalition_value, form,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

const CAPABILITIES: [&str; 5] = ["a", "b", "c", "d", "e"];
const EPSILON: f64 = 1e-9;

fn fraction() -> impl Strategy<Value = f64> {
    // Round values make exact ties likely, which is where tie-breaking bugs hide.
    prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0..=1.0f64]
}

fn capability_set(min: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(CAPABILITIES.to_vec(), min..=3)
        .prop_map(|c| c.into_iter().map(str::to_owned).collect())
}

fn instance(max_agents: usize, max_objectives: usize, max_slots: usize) -> impl Strategy<Value = FormationInput> {
    let agents = prop::collection::vec(
        (capability_set(0), fraction(), fraction(), 0..=max_slots, prop::collection::vec(fraction(), max_agents)),
        1..=max_agents,
    );
    let objectives =
        prop::collection::vec((capability_set(1), fraction(), prop::option::of(0i64..3)), 1..=max_objectives);
    (agents, objectives, 1..=4usize).prop_map(|(agents, objectives, max_coalition_size)| {
        let count = agents.len();
        let candidates = agents
            .into_iter()
            .enumerate()
            .map(|(i, (capabilities, capacity, reputation, slots, preferences))| Candidate {
                // Ids descend against list order so "input order" and "id order" differ.
                id: Uuid::from_u128((count - i) as u128),
                capabilities,
                capacity,
                reputation,
                // Preferences toward every other third agent are left unstated (neutral 0.5).
                preferences: (0..count)
                    .filter(|&j| j != i && j % 3 != 0)
                    .map(|j| (Uuid::from_u128((count - j) as u128), preferences[j]))
                    .collect::<BTreeMap<_, _>>(),
                slots,
            })
            .collect();
        let objectives = objectives
            .into_iter()
            .enumerate()
            .map(|(i, (required_capabilities, priority, deadline))| FormationObjective {
                id: Uuid::from_u128(1000 + i as u128),
                required_capabilities,
                priority,
                deadline: deadline.map(|d| time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(d)),
            })
            .collect();
        FormationInput { candidates, objectives, max_coalition_size }
    })
}

fn run(input: &FormationInput, strategy: Algorithm) -> FormationOutcome {
    form(input, strategy, &FormationLimits::default()).expect("valid input")
}

fn relevant(agent: &Candidate, objective: &FormationObjective) -> bool {
    agent.capabilities.iter().any(|c| objective.required_capabilities.contains(c))
}

/// The best total over every assignment of a subset of candidates (or nobody) to each objective,
/// checking the constraints literally: members relevant, size within the limit, slots respected.
fn brute_force(input: &FormationInput) -> f64 {
    let agents = &input.candidates;
    let options: Vec<Vec<(u32, f64)>> = input
        .objectives
        .iter()
        .map(|objective| {
            (0u32..1 << agents.len())
                .filter(|&set| {
                    let members: Vec<&Candidate> = members(agents, set);
                    members.len() <= input.max_coalition_size && members.iter().all(|m| relevant(m, objective))
                })
                .map(|set| (set, coalition_value(objective, &members(agents, set))))
                .collect()
        })
        .collect();
    let mut used = vec![0usize; agents.len()];
    best_from(&options, 0, agents, &mut used)
}

fn members(agents: &[Candidate], set: u32) -> Vec<&Candidate> {
    agents.iter().enumerate().filter(|(i, _)| set >> i & 1 == 1).map(|(_, a)| a).collect()
}

fn best_from(options: &[Vec<(u32, f64)>], objective: usize, agents: &[Candidate], used: &mut [usize]) -> f64 {
    if objective == options.len() {
        return 0.0;
    }
    let mut best = f64::NEG_INFINITY;
    for &(set, value) in &options[objective] {
        let fits = (0..agents.len()).all(|i| set >> i & 1 == 0 || used[i] < agents[i].slots);
        if !fits {
            continue;
        }
        (0..agents.len()).filter(|i| set >> i & 1 == 1).for_each(|i| used[i] += 1);
        best = best.max(value + best_from(options, objective + 1, agents, used));
        (0..agents.len()).filter(|i| set >> i & 1 == 1).for_each(|i| used[i] -= 1);
    }
    best
}

/// Every rule an outcome must keep, whatever the strategy.
fn check_rules(input: &FormationInput, outcome: &FormationOutcome) -> Result<(), TestCaseError> {
    let agents: HashMap<Uuid, &Candidate> = input.candidates.iter().map(|a| (a.id, a)).collect();
    let objectives: HashMap<Uuid, &FormationObjective> = input.objectives.iter().map(|o| (o.id, o)).collect();
    let mut memberships: HashMap<Uuid, usize> = HashMap::new();
    let mut served = BTreeSet::new();
    let mut total = 0.0;
    for (index, coalition) in outcome.coalitions.iter().enumerate() {
        let ids: Vec<Uuid> = coalition.members.iter().map(|m| m.agent_id).collect();
        let unique: BTreeSet<Uuid> = ids.iter().copied().collect();
        prop_assert_eq!(unique.len(), ids.len(), "a member listed twice");
        prop_assert!(!ids.is_empty() && ids.len() <= input.max_coalition_size, "size {}", ids.len());
        prop_assert_eq!(
            coalition.members[0],
            freeagentics_core::coalition::formation::FormedMember {
                agent_id: coalition.leader,
                role: MemberRole::Leader,
            }
        );
        prop_assert_eq!(coalition.members.iter().filter(|m| m.role == MemberRole::Leader).count(), 1);
        let members: Vec<&Candidate> = ids.iter().map(|id| agents[id]).collect();
        let served_here: Vec<&FormationObjective> = coalition.objective_ids.iter().map(|id| objectives[id]).collect();
        for member in &members {
            *memberships.entry(member.id).or_default() += 1;
            prop_assert!(served_here.iter().any(|o| relevant(member, o)), "{} is irrelevant", member.id);
        }
        // Coverage is what the members really hold, and "covered" means nothing is missing.
        let required: BTreeSet<&String> = served_here.iter().flat_map(|o| &o.required_capabilities).collect();
        let held: BTreeSet<&String> = members.iter().flat_map(|m| &m.capabilities).collect();
        let missing: Vec<String> = required.difference(&held).map(|c| (*c).clone()).collect();
        prop_assert_eq!(&coalition.uncovered_capabilities, &missing);
        prop_assert_eq!(coalition.covers_objectives, missing.is_empty());
        let score: f64 = served_here.iter().map(|o| coalition_value(o, &members)).sum();
        prop_assert!((coalition.score - score).abs() < EPSILON, "score {} vs {}", coalition.score, score);
        total += coalition.score;
        for objective in &coalition.objective_ids {
            prop_assert!(served.insert(*objective), "objective {} served twice", objective);
            let entry = outcome.objective_coverage.iter().find(|c| c.objective_id == *objective).unwrap();
            prop_assert_eq!(entry.coalition, Some(index));
        }
    }
    for (agent, count) in &memberships {
        prop_assert!(
            *count <= agents[agent].slots,
            "{} joined {} coalitions, slots {}",
            agent,
            count,
            agents[agent].slots
        );
    }
    prop_assert!((outcome.total_score - total).abs() < EPSILON);
    prop_assert_eq!(outcome.objective_coverage.len(), input.objectives.len());
    for entry in &outcome.objective_coverage {
        if entry.coalition.is_none() {
            prop_assert!(!served.contains(&entry.objective_id));
            let mut all = objectives[&entry.objective_id].required_capabilities.clone();
            all.sort();
            prop_assert_eq!(&entry.missing_capabilities, &all);
        }
    }
    let unassigned: BTreeSet<Uuid> = agents.keys().filter(|id| !memberships.contains_key(id)).copied().collect();
    prop_assert_eq!(outcome.unassigned_agents.iter().copied().collect::<BTreeSet<_>>(), unassigned);
    Ok(())
}

fn shuffled(input: &FormationInput, seed: usize) -> FormationInput {
    let mut copy = input.clone();
    let (n, m) = (copy.candidates.len(), copy.objectives.len());
    copy.candidates.rotate_left(seed % n);
    copy.candidates.reverse();
    copy.objectives.rotate_left(seed % m);
    copy
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn optimal_equals_brute_force_and_never_loses_to_greedy(input in instance(6, 3, 3)) {
        let optimal = run(&input, Algorithm::Optimal);
        let exact = brute_force(&input);
        prop_assert!((optimal.total_score - exact).abs() < EPSILON, "optimal {} brute force {}", optimal.total_score, exact);
        let greedy = run(&input, Algorithm::Greedy);
        prop_assert!(optimal.total_score >= greedy.total_score - EPSILON, "optimal {} greedy {}", optimal.total_score, greedy.total_score);
        check_rules(&input, &optimal)?;
    }

    #[test]
    fn optimal_equals_brute_force_with_more_objectives(input in instance(4, 4, 4)) {
        let optimal = run(&input, Algorithm::Optimal);
        let exact = brute_force(&input);
        prop_assert!((optimal.total_score - exact).abs() < EPSILON, "optimal {} brute force {}", optimal.total_score, exact);
        prop_assert!(optimal.total_score >= run(&input, Algorithm::Greedy).total_score - EPSILON);
    }

    #[test]
    fn every_strategy_keeps_the_rules_and_is_deterministic(input in instance(8, 6, 3), seed in 0usize..100) {
        for strategy in Algorithm::ALL {
            let outcome = run(&input, strategy);
            check_rules(&input, &outcome)?;
            prop_assert_eq!(&run(&input, strategy), &outcome, "{} changed between runs", strategy);
            prop_assert_eq!(&run(&shuffled(&input, seed), strategy), &outcome, "{} depends on input order", strategy);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Greedy and hierarchical on instances far above optimal's limit.
    #[test]
    fn heuristics_keep_the_rules_on_larger_instances(input in instance(40, 12, 3), seed in 0usize..100) {
        for strategy in [Algorithm::Greedy, Algorithm::Hierarchical] {
            let outcome = run(&input, strategy);
            check_rules(&input, &outcome)?;
            prop_assert_eq!(&run(&shuffled(&input, seed), strategy), &outcome);
        }
    }
}
