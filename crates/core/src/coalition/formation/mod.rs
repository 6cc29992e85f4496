//! Coalition formation: from candidate agents and objectives to coalitions, with no I/O.
//!
//! Call [`form`] with a [`FormationInput`], a [`Strategy`] and [`FormationLimits`]. The answer lists
//! the coalitions (objectives served, members with roles, coverage, score, uncovered
//! capabilities), the unassigned agents, each objective's coverage and the total score.
//!
//! # Rules every strategy keeps
//! - **Value.** A coalition serving an objective is worth
//!   `(0.4·coverage + 0.2·min(Σ capacity, 1) + 0.2·mean reputation + 0.2·synergy) × priority`
//!   ([`coalition_value`]); a coalition's score is the sum over the objectives it serves, and the
//!   total score the sum over coalitions.
//! - **Relevance.** Every member of a coalition holds at least one capability one of its
//!   objectives requires; agents are never added just to raise the value.
//! - **Limits.** A coalition has at most `max_coalition_size` members, and an agent joins at most
//!   `slots` coalitions.
//! - **Coverage is reported, not assumed.** A coalition that could not cover its objectives says so
//!   (`covers_objectives: false`, with `uncovered_capabilities`); an objective nobody can serve has
//!   no coalition and appears in `objective_coverage` with `coalition: None`.
//! - **Determinism.** Candidates are taken in id order and objectives in *formation order*:
//!   highest priority first, then earliest deadline (none last), then lowest id. Every remaining tie
//!   goes to the lowest id, so the same input — in any order — gives the same output.
//! - **Roles.** One leader per coalition; a coalition of more than 6 members gets up to 2
//!   coordinators (highest reputation, then lowest id).
//!
//! # Strategies
//! - `greedy` (default): one coalition per objective in formation order; see `greedy.rs` for its rule.
//!   Time: about objectives × candidates × required capabilities.
//! - `hierarchical`: objectives with overlapping requirements share a coalition of a leader and
//!   specialists; see `hierarchical.rs`. Time: like greedy.
//! - `optimal`: exact. Among all ways to give each objective either no coalition or one non-empty
//!   coalition, such that every member is relevant to that objective, no coalition exceeds
//!   `max_coalition_size` and no agent exceeds its `slots`, it returns one that maximises the total
//!   score Σ value(coalition, objective). Greedy always produces such an assignment, so optimal
//!   never scores less than greedy. Hierarchical lets one membership serve several objectives,
//!   which is outside this space, so its score may be higher or lower than optimal's.
//!
//!   Size limit: at most [`OPTIMAL_MAX_AGENTS`] (8) *eligible* agents — candidates with a free
//!   slot holding at least one capability some objective requires; the others cannot be placed
//!   and do not enlarge the search — and at most [`OPTIMAL_MAX_OBJECTIVES`] (8) objectives. Larger
//!   inputs are refused with [`FormationError::TooLargeForOptimal`] before any search, never
//!   answered slowly and never silently answered by another strategy. The worst case at the limit
//!   is benchmarked (docs/PERFORMANCE.md). Maximising value does not mean covering every
//!   objective: the search may leave an objective partly covered when the agents score more
//!   elsewhere.
//!
//! # Relation to the original
//! The original's "optimal" claimed an exhaustive search for at most 8 agents and 8 objectives
//! and silently fell back to greedy above that; its enumeration did not visit every assignment.
//! Ours is an exact dynamic programme (`optimal.rs`) over the space above, checked against a
//! brute-force enumeration by property tests (`tests/formation_properties.rs`), and refuses
//! instead of falling back. The value function, the greedy scoring and the hierarchical grouping
//! (Jaccard > 0.3, up to 3 specialists per objective) follow the original; the coalition size
//! limit is the caller's (defaults: [`Strategy::default_max_coalition_size`]).
use crate::ValidationErrors;

mod greedy;
mod hierarchical;
mod input;
mod optimal;
mod outcome;
mod problem;
mod value;

pub use hierarchical::{GROUPING_JACCARD, SPECIALISTS_PER_OBJECTIVE};
pub use input::{Candidate, FormationInput, FormationLimits, FormationObjective, Strategy, validate_input};
pub use optimal::{OPTIMAL_MAX_AGENTS, OPTIMAL_MAX_OBJECTIVES};
pub use outcome::{
    COORDINATORS_ABOVE_SIZE, FormationOutcome, FormedCoalition, FormedMember, MAX_COORDINATORS, ObjectiveCoverage,
};
pub use value::{NEUTRAL_PREFERENCE, coalition_value};

/// Why formation refused an input (both are HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormationError {
    #[error("the formation input is invalid")]
    Invalid(ValidationErrors),
    #[error(
        "optimal formation is exact and accepts at most {max_agents} eligible agents and {max_objectives} objectives; \
         this input has {agents} eligible agents and {objectives} objectives (use greedy or hierarchical, or fewer)"
    )]
    TooLargeForOptimal { agents: usize, objectives: usize, max_agents: usize, max_objectives: usize },
}

/// Forms coalitions. Validates the input first (every problem reported at once).
pub fn form(
    input: &FormationInput,
    strategy: Strategy,
    limits: &FormationLimits,
) -> Result<FormationOutcome, FormationError> {
    validate_input(input, limits).map_err(FormationError::Invalid)?;
    let problem = problem::Problem::new(input);
    let assemblies = match strategy {
        Strategy::Greedy => greedy::assemble(&problem),
        Strategy::Optimal => optimal::assemble(&problem)?,
        Strategy::Hierarchical => hierarchical::assemble(&problem),
    };
    Ok(outcome::build(&problem, strategy, assemblies))
}

#[cfg(test)]
mod tests;
