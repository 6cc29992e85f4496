//! Hand-made instances whose answers are worked out in the comments. The random, property-based
//! checks (optimal against brute force, invariants, determinism) are in tests/formation_properties.rs.
use super::*;
use crate::coalition::MemberRole;
use std::collections::BTreeMap;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn agent(n: u128, capabilities: &[&str], capacity: f64, reputation: f64, slots: usize) -> Candidate {
    Candidate {
        id: id(n),
        capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
        capacity,
        reputation,
        preferences: BTreeMap::new(),
        slots,
    }
}

fn objective(n: u128, required: &[&str], priority: f64) -> FormationObjective {
    FormationObjective {
        id: id(n),
        required_capabilities: required.iter().map(|c| (*c).to_owned()).collect(),
        priority,
        deadline: None,
    }
}

fn run(input: &FormationInput, strategy: Strategy) -> FormationOutcome {
    form(input, strategy, &FormationLimits::default()).unwrap()
}

fn member_ids(coalition: &FormedCoalition) -> Vec<Uuid> {
    coalition.members.iter().map(|m| m.agent_id).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn greedy_adds_the_best_contributor_until_covered_and_the_first_pick_leads() {
    let input = FormationInput {
        candidates: vec![
            agent(1, &["x"], 1.0, 0.5, 3),      // brings x: 1/3 × 0.5 × 1.0 = 0.167
            agent(2, &["x", "y"], 0.5, 0.9, 3), // brings x, y: 2/3 × 0.9 × 0.5 = 0.3   → first
            agent(3, &["z"], 0.4, 0.5, 3),      // then brings z: 1/3 × 0.2 = 0.067 (only one left)
            agent(4, &["w"], 1.0, 1.0, 3),      // irrelevant
        ],
        objectives: vec![objective(10, &["x", "y", "z"], 1.0)],
        max_coalition_size: 10,
    };
    let outcome = run(&input, Strategy::Greedy);
    assert_eq!(outcome.coalitions.len(), 1);
    let coalition = &outcome.coalitions[0];
    assert_eq!(coalition.leader, id(2));
    assert_eq!(member_ids(coalition), [id(2), id(3)], "agent 1 brings nothing new once agent 2 is in");
    assert!(coalition.covers_objectives && coalition.uncovered_capabilities.is_empty());
    assert_eq!(coalition.coverage, 1.0);
    assert_eq!(outcome.unassigned_agents, [id(1), id(4)]);
    let members = [&input.candidates[1], &input.candidates[2]];
    assert!(close(coalition.score, coalition_value(&input.objectives[0], &members)));
    assert!(close(outcome.total_score, coalition.score));
    assert_eq!(outcome.coverage_rate, 1.0);
}

#[test]
fn an_uncoverable_objective_is_reported_not_hidden() {
    let input = FormationInput {
        candidates: vec![agent(1, &["x"], 1.0, 1.0, 3)],
        objectives: vec![objective(10, &["x", "y"], 1.0), objective(11, &["q"], 0.5)],
        max_coalition_size: 10,
    };
    for strategy in Strategy::ALL {
        let outcome = run(&input, strategy);
        assert_eq!(outcome.coalitions.len(), 1, "{strategy}");
        assert!(!outcome.coalitions[0].covers_objectives);
        assert_eq!(outcome.coalitions[0].uncovered_capabilities, ["y"]);
        assert_eq!(outcome.coalitions[0].coverage, 0.5);
        let none = &outcome.objective_coverage[1];
        assert_eq!((none.objective_id, none.coalition, none.coverage), (id(11), None, 0.0));
        assert_eq!(none.missing_capabilities, ["q"]);
        assert_eq!(outcome.coverage_rate, 0.0);
    }
}

#[test]
fn greedy_serves_higher_priority_first_and_respects_slots() {
    let input = FormationInput {
        candidates: vec![agent(1, &["x"], 1.0, 1.0, 1), agent(2, &["x"], 0.2, 0.2, 1)],
        objectives: vec![objective(10, &["x"], 0.2), objective(11, &["x"], 0.9)],
        max_coalition_size: 10,
    };
    let outcome = run(&input, Strategy::Greedy);
    let by_objective: Vec<(Uuid, Uuid)> = outcome.coalitions.iter().map(|c| (c.objective_ids[0], c.leader)).collect();
    assert_eq!(by_objective, [(id(11), id(1)), (id(10), id(2))]);
    assert_eq!(outcome.objective_coverage[0].objective_id, id(11), "formation order: priority first");
}

#[test]
fn optimal_beats_greedy_where_greedy_spends_an_agent_too_early() {
    // Agent 1 is the best for both objectives but has one slot; only agent 1 holds y.
    // Greedy gives it to x (higher priority) and leaves y unserved; optimal gives x to agent 2.
    let input = FormationInput {
        candidates: vec![agent(1, &["x", "y"], 1.0, 1.0, 1), agent(2, &["x"], 0.5, 0.5, 1)],
        objectives: vec![objective(10, &["x"], 1.0), objective(11, &["y"], 0.9)],
        max_coalition_size: 10,
    };
    let greedy = run(&input, Strategy::Greedy);
    let optimal = run(&input, Strategy::Optimal);
    assert_eq!(greedy.coalitions.len(), 1);
    assert_eq!(optimal.coalitions.len(), 2);
    let x = coalition_value(&input.objectives[0], &[&input.candidates[1]]);
    let y = coalition_value(&input.objectives[1], &[&input.candidates[0]]);
    assert!(close(optimal.total_score, x + y));
    assert!(optimal.total_score > greedy.total_score);
    assert!(optimal.unassigned_agents.is_empty());
}

#[test]
fn optimal_may_add_a_member_who_lowers_coverage_nothing_but_raises_capacity() {
    // Both hold x; together capacity reaches 1 and reputation stays high: the pair is worth more.
    let input = FormationInput {
        candidates: vec![agent(1, &["x"], 0.5, 0.9, 1), agent(2, &["x"], 0.5, 0.9, 1)],
        objectives: vec![objective(10, &["x"], 1.0)],
        max_coalition_size: 10,
    };
    let optimal = run(&input, Strategy::Optimal);
    assert_eq!(member_ids(&optimal.coalitions[0]).len(), 2);
    assert_eq!(optimal.coalitions[0].leader, id(1), "equal leader scores: lowest id");
    let limited = FormationInput { max_coalition_size: 1, ..input };
    assert_eq!(run(&limited, Strategy::Optimal).coalitions[0].members.len(), 1);
}

#[test]
fn optimal_refuses_inputs_above_its_limit_counting_only_eligible_agents() {
    let mut candidates: Vec<Candidate> =
        (0..OPTIMAL_MAX_AGENTS as u128).map(|n| agent(n + 1, &["x"], 0.5, 0.5, 1)).collect();
    // Neither of these can be placed, so neither counts.
    candidates.push(agent(100, &["unrelated"], 1.0, 1.0, 3));
    candidates.push(agent(101, &["x"], 1.0, 1.0, 0));
    let input = FormationInput { candidates, objectives: vec![objective(10, &["x"], 1.0)], max_coalition_size: 10 };
    assert!(form(&input, Strategy::Optimal, &FormationLimits::default()).is_ok());

    let mut more = input.clone();
    more.candidates.push(agent(9, &["x"], 0.5, 0.5, 1));
    assert_eq!(
        form(&more, Strategy::Optimal, &FormationLimits::default()),
        Err(FormationError::TooLargeForOptimal { agents: 9, objectives: 1, max_agents: 8, max_objectives: 8 })
    );
    assert!(form(&more, Strategy::Greedy, &FormationLimits::default()).is_ok());

    let mut objectives = input;
    objectives.objectives = (0..=OPTIMAL_MAX_OBJECTIVES as u128).map(|n| objective(10 + n, &["x"], 0.5)).collect();
    let error = form(&objectives, Strategy::Optimal, &FormationLimits::default()).unwrap_err();
    assert!(matches!(error, FormationError::TooLargeForOptimal { objectives: 9, .. }));
    assert!(error.to_string().contains("at most 8 eligible agents and 8 objectives"), "{error}");
}

#[test]
fn hierarchical_groups_overlapping_objectives_under_one_leader() {
    let input = FormationInput {
        candidates: vec![
            agent(1, &["a", "b", "c"], 0.5, 0.6, 1), // leader: 0.6 × 3 = 1.8
            agent(2, &["a"], 0.5, 1.0, 1),           // 1.0 × 1
            agent(3, &["d"], 0.9, 0.9, 1),
            agent(4, &["z"], 0.9, 0.9, 1),
        ],
        objectives: vec![
            objective(10, &["a", "b"], 1.0),
            objective(11, &["a", "b", "d"], 0.8), // Jaccard with {a, b} = 2/3: same group
            objective(12, &["z", "y"], 0.5),      // Jaccard 0: its own group
        ],
        max_coalition_size: 15,
    };
    let outcome = run(&input, Strategy::Hierarchical);
    assert_eq!(outcome.coalitions.len(), 2);
    let first = &outcome.coalitions[0];
    assert_eq!(first.objective_ids, [id(10), id(11)]);
    assert_eq!(first.leader, id(1));
    assert_eq!(member_ids(first), [id(1), id(3)], "the leader covers a and b; agent 3 brings d");
    assert!(first.covers_objectives);
    let expected = coalition_value(&input.objectives[0], &[&input.candidates[0], &input.candidates[2]])
        + coalition_value(&input.objectives[1], &[&input.candidates[0], &input.candidates[2]]);
    assert!(close(first.score, expected), "a shared coalition scores the sum over its objectives");
    let second = &outcome.coalitions[1];
    assert_eq!((second.leader, second.uncovered_capabilities.clone()), (id(4), vec!["y".to_owned()]));
    assert_eq!(outcome.unassigned_agents, [id(2)]);
}

#[test]
fn hierarchical_adds_at_most_three_specialists_per_objective() {
    let mut candidates = vec![agent(1, &["lead"], 1.0, 1.0, 1)];
    candidates.extend((2..=8).map(|n| agent(n, &[&format!("s{n}")], 0.5, 0.5, 1)));
    let required: Vec<String> = std::iter::once("lead".to_owned()).chain((2..=8).map(|n| format!("s{n}"))).collect();
    let required: Vec<&str> = required.iter().map(String::as_str).collect();
    let input = FormationInput { candidates, objectives: vec![objective(10, &required, 1.0)], max_coalition_size: 15 };
    let outcome = run(&input, Strategy::Hierarchical);
    assert_eq!(member_ids(&outcome.coalitions[0]), [id(1), id(2), id(3), id(4)]);
    assert_eq!(outcome.coalitions[0].uncovered_capabilities, ["s5", "s6", "s7", "s8"]);
}

#[test]
fn large_coalitions_get_two_coordinators_by_reputation() {
    let reputations = [0.5, 0.9, 0.2, 0.8, 0.8, 0.1, 0.3];
    let candidates: Vec<Candidate> =
        (0..7u128).map(|n| agent(n + 1, &[&format!("c{n}")], 0.3, reputations[n as usize], 1)).collect();
    let required: Vec<String> = (0..7).map(|n| format!("c{n}")).collect();
    let required: Vec<&str> = required.iter().map(String::as_str).collect();
    let input = FormationInput { candidates, objectives: vec![objective(10, &required, 1.0)], max_coalition_size: 10 };
    let outcome = run(&input, Strategy::Greedy);
    let coalition = &outcome.coalitions[0];
    assert_eq!(coalition.members.len(), 7);
    // Greedy's first pick is agent 2 (reputation 0.9): it leads. Coordinators: 4 and 5 (0.8 each,
    // lowest id first), then the rest by id.
    let roles: Vec<(Uuid, MemberRole)> = coalition.members.iter().map(|m| (m.agent_id, m.role)).collect();
    use MemberRole::*;
    assert_eq!(
        roles,
        [
            (id(2), Leader),
            (id(4), Coordinator),
            (id(5), Coordinator),
            (id(1), Member),
            (id(3), Member),
            (id(6), Member),
            (id(7), Member)
        ]
    );
    let six = FormationInput { max_coalition_size: 6, ..input };
    let outcome = run(&six, Strategy::Greedy);
    assert!(outcome.coalitions[0].members.iter().all(|m| m.role != Coordinator), "six members: no coordinators");
}

#[test]
fn input_order_does_not_change_the_answer() {
    let mut input = FormationInput {
        candidates: vec![
            agent(3, &["x", "y"], 0.5, 0.5, 2),
            agent(1, &["x"], 0.5, 0.5, 2),
            agent(2, &["y"], 0.5, 0.5, 2),
        ],
        objectives: vec![objective(11, &["x", "y"], 0.5), objective(10, &["y"], 0.5), objective(12, &["x"], 0.5)],
        max_coalition_size: 2,
    };
    input.candidates[0].preferences.insert(id(1), 0.9);
    for strategy in Strategy::ALL {
        let before = run(&input, strategy);
        let mut reversed = input.clone();
        reversed.candidates.reverse();
        reversed.objectives.reverse();
        assert_eq!(run(&reversed, strategy), before, "{strategy}");
    }
}

#[test]
fn invalid_input_is_refused_before_any_work() {
    let input = FormationInput {
        candidates: vec![agent(1, &["x"], 2.0, 0.5, 1)],
        objectives: vec![objective(10, &["x"], 1.0)],
        max_coalition_size: 10,
    };
    for strategy in Strategy::ALL {
        let Err(FormationError::Invalid(errors)) = form(&input, strategy, &FormationLimits::default()) else {
            panic!("{strategy} accepted a capacity of 2");
        };
        assert_eq!(errors.into_vec()[0].field, "candidates[0].capacity");
    }
}

#[test]
fn the_outcome_renders_as_snake_case_json() {
    let input = FormationInput {
        candidates: vec![agent(1, &["x"], 1.0, 1.0, 1)],
        objectives: vec![objective(10, &["x"], 1.0)],
        max_coalition_size: 10,
    };
    let json = serde_json::to_value(run(&input, Strategy::Optimal)).unwrap();
    assert_eq!(json["strategy"], "optimal");
    assert_eq!(json["coalitions"][0]["members"][0]["role"], "leader");
    assert_eq!(json["coalitions"][0]["covers_objectives"], true);
    assert_eq!(json["objective_coverage"][0]["coalition"], 0);
    assert!(json["unassigned_agents"].as_array().unwrap().is_empty());
}
