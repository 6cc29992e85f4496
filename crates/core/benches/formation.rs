//! Coalition formation timings (results and command in docs/PERFORMANCE.md).
//!
//! - greedy and hierarchical on 1,000 agents × 100 objectives (target: under 50 ms each);
//! - optimal at its size limit, 8 agents × 8 objectives, every agent relevant to every objective
//!   and each slot count from 1 to 8 (4 gives the largest search; target: under 1 s).
#![allow(missing_docs)]
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use freeagentics_core::coalition::formation::{
    Candidate, FormationInput, FormationLimits, FormationObjective, OPTIMAL_MAX_AGENTS, OPTIMAL_MAX_OBJECTIVES,
    Strategy, form,
};
use std::collections::BTreeMap;
use std::hint::black_box;
use uuid::Uuid;

/// A small deterministic generator, so every run measures the same instance.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fraction(&mut self) -> f64 {
        self.below(1001) as f64 / 1000.0
    }
}

/// `agents` candidates with 3–6 of 50 capabilities, 3 slots and 5 stated preferences each;
/// `objectives` objectives requiring 2–5 capabilities.
fn large(agents: usize, objectives: usize, max_coalition_size: usize) -> FormationInput {
    let mut rng = Lcg(42);
    let capability = |i: u64| format!("capability-{i:02}");
    let candidates = (0..agents)
        .map(|i| {
            let count = 3 + rng.below(4);
            let capabilities = (0..count).map(|_| capability(rng.below(50))).collect::<std::collections::BTreeSet<_>>();
            let preferences: BTreeMap<Uuid, f64> =
                (0..5).map(|_| (Uuid::from_u128(u128::from(rng.below(agents as u64))), rng.fraction())).collect();
            Candidate {
                id: Uuid::from_u128(i as u128),
                capabilities: capabilities.into_iter().collect(),
                capacity: rng.fraction(),
                reputation: rng.fraction(),
                preferences,
                slots: 3,
            }
        })
        .collect();
    let objectives = (0..objectives)
        .map(|i| {
            let count = 2 + rng.below(4);
            let required = (0..count).map(|_| capability(rng.below(50))).collect::<std::collections::BTreeSet<_>>();
            FormationObjective {
                id: Uuid::from_u128(1_000_000 + i as u128),
                required_capabilities: required.into_iter().collect(),
                priority: rng.fraction(),
                deadline: None,
            }
        })
        .collect();
    FormationInput { candidates, objectives, max_coalition_size }
}

/// Optimal's worst case: every agent relevant to every objective, all with `slots` slots.
fn at_optimal_limit(slots: usize) -> FormationInput {
    let mut rng = Lcg(7);
    let capabilities = ["navigation", "sensing", "lifting", "comms"];
    let candidates = (0..OPTIMAL_MAX_AGENTS)
        .map(|i| Candidate {
            id: Uuid::from_u128(i as u128 + 1),
            capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
            capacity: rng.fraction(),
            reputation: rng.fraction(),
            preferences: (0..OPTIMAL_MAX_AGENTS)
                .filter(|&j| j != i)
                .map(|j| (Uuid::from_u128(j as u128 + 1), rng.fraction()))
                .collect(),
            slots,
        })
        .collect();
    let objectives = (0..OPTIMAL_MAX_OBJECTIVES)
        .map(|i| FormationObjective {
            id: Uuid::from_u128(100 + i as u128),
            required_capabilities: vec![capabilities[i % 4].to_owned(), capabilities[(i + 1) % 4].to_owned()],
            priority: rng.fraction(),
            deadline: None,
        })
        .collect();
    FormationInput { candidates, objectives, max_coalition_size: 10 }
}

fn heuristics(c: &mut Criterion) {
    let limits = FormationLimits::default();
    let mut group = c.benchmark_group("formation_1000_agents_100_objectives");
    for strategy in [Strategy::Greedy, Strategy::Hierarchical] {
        let input = large(1000, 100, strategy.default_max_coalition_size());
        group.bench_function(strategy.as_str(), |b| b.iter(|| form(black_box(&input), strategy, &limits)));
    }
    group.finish();
}

fn optimal(c: &mut Criterion) {
    let limits = FormationLimits::default();
    let mut group = c.benchmark_group("optimal_8_agents_8_objectives");
    group.sample_size(10);
    for slots in 1..=OPTIMAL_MAX_OBJECTIVES {
        let input = at_optimal_limit(slots);
        group.bench_with_input(BenchmarkId::new("slots", slots), &input, |b, input| {
            b.iter(|| form(black_box(input), Strategy::Optimal, &limits))
        });
    }
    group.finish();
}

criterion_group!(benches, heuristics, optimal);
criterion_main!(benches);
