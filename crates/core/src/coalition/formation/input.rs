//! What formation works from, and the checks it makes before it starts.
use crate::ValidationErrors;
use crate::coalition::membership::MAX_COALITION_SIZE;
use crate::coalition::objective::{validate_capability, validate_required_capabilities};
use crate::validation::{check_unit_interval, field_path};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// An agent formation may place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: Uuid,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// 0–1: how much work the agent can take on.
    pub capacity: f64,
    /// 0–1.
    pub reputation: f64,
    /// 0–1 toward other candidates by id; a candidate not listed counts as 0.5.
    #[serde(default)]
    pub preferences: BTreeMap<Uuid, f64>,
    /// How many more coalitions the agent may join (its limit minus the coalitions it is in).
    pub slots: usize,
}

/// An objective to form a coalition for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormationObjective {
    pub id: Uuid,
    pub required_capabilities: Vec<String>,
    /// 0–1; scales the value of the coalition that serves the objective.
    pub priority: f64,
    /// Orders objectives of equal priority (earliest first, none last); not a constraint.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormationInput {
    pub candidates: Vec<Candidate>,
    pub objectives: Vec<FormationObjective>,
    pub max_coalition_size: usize,
}

/// Input size ceilings for greedy and hierarchical, which run in time roughly proportional to
/// candidates × objectives × the capabilities an objective requires. `optimal` has its own, fixed
/// limit (see the module documentation); these do not raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormationLimits {
    pub max_candidates: usize,
    pub max_objectives: usize,
}

impl Default for FormationLimits {
    fn default() -> Self {
        Self { max_candidates: 2_000, max_objectives: 200 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    Greedy,
    Optimal,
    Hierarchical,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Greedy, Strategy::Optimal, Strategy::Hierarchical];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Greedy => "greedy",
            Strategy::Optimal => "optimal",
            Strategy::Hierarchical => "hierarchical",
        }
    }

    /// The coalition size to use when the caller gives none: the original's 10, and 15 for
    /// hierarchical, whose coalitions serve several objectives at once.
    pub fn default_max_coalition_size(self) -> usize {
        match self {
            Strategy::Greedy | Strategy::Optimal => 10,
            Strategy::Hierarchical => 15,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| format!("unknown strategy `{s}` (expected greedy, optimal or hierarchical)"))
    }
}

/// Every problem of the input at once, with field paths such as `candidates[3].capacity`.
pub fn validate_input(input: &FormationInput, limits: &FormationLimits) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if input.candidates.len() > limits.max_candidates {
        errors.add("candidates", format!("must list at most {} agents", limits.max_candidates));
    }
    if input.objectives.is_empty() || input.objectives.len() > limits.max_objectives {
        errors.add("objectives", format!("must list 1 to {} objectives", limits.max_objectives));
    }
    if !(1..=MAX_COALITION_SIZE).contains(&input.max_coalition_size) {
        errors.add("max_coalition_size", format!("must be 1 to {MAX_COALITION_SIZE}"));
    }
    let mut ids = HashSet::new();
    for (i, candidate) in input.candidates.iter().enumerate() {
        let prefix = format!("candidates[{i}]");
        if !ids.insert(candidate.id) {
            errors.add(field_path(&prefix, "id"), format!("{} is listed twice", candidate.id));
        }
        for (j, capability) in candidate.capabilities.iter().enumerate() {
            errors.check(&format!("{prefix}.capabilities[{j}]"), validate_capability(capability));
        }
        errors.check(&field_path(&prefix, "capacity"), check_unit_interval(candidate.capacity));
        errors.check(&field_path(&prefix, "reputation"), check_unit_interval(candidate.reputation));
        for (other, preference) in &candidate.preferences {
            errors.check(&format!("{prefix}.preferences.{other}"), check_unit_interval(*preference));
        }
    }
    let mut ids = HashSet::new();
    for (i, objective) in input.objectives.iter().enumerate() {
        let prefix = format!("objectives[{i}]");
        if !ids.insert(objective.id) {
            errors.add(field_path(&prefix, "id"), format!("{} is listed twice", objective.id));
        }
        let field = field_path(&prefix, "required_capabilities");
        if objective.required_capabilities.is_empty() {
            errors.add(&*field, "formation needs at least one required capability to match agents against");
        }
        validate_required_capabilities(&objective.required_capabilities, &field, &mut errors);
        errors.check(&field_path(&prefix, "priority"), check_unit_interval(objective.priority));
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FormationInput {
        FormationInput {
            candidates: vec![Candidate {
                id: Uuid::from_u128(1),
                capabilities: vec!["a".to_owned()],
                capacity: 0.5,
                reputation: 0.5,
                preferences: BTreeMap::new(),
                slots: 3,
            }],
            objectives: vec![FormationObjective {
                id: Uuid::from_u128(10),
                required_capabilities: vec!["a".to_owned()],
                priority: 1.0,
                deadline: None,
            }],
            max_coalition_size: 10,
        }
    }

    fn fields(input: &FormationInput, limits: &FormationLimits) -> Vec<String> {
        validate_input(input, limits)
            .err()
            .map(|e| e.into_vec().into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_valid_input_passes() {
        assert!(fields(&input(), &FormationLimits::default()).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut bad = input();
        bad.max_coalition_size = 0;
        let mut twin = bad.candidates[0].clone();
        twin.capacity = 1.5;
        twin.reputation = f64::NAN;
        twin.capabilities = vec![" a".to_owned()];
        twin.preferences.insert(Uuid::from_u128(1), -1.0);
        bad.candidates.push(twin);
        let mut objective = bad.objectives[0].clone();
        objective.required_capabilities.clear();
        objective.priority = 2.0;
        bad.objectives.push(objective);
        let uuid1 = Uuid::from_u128(1);
        assert_eq!(
            fields(&bad, &FormationLimits::default()),
            [
                "max_coalition_size".to_owned(),
                "candidates[1].id".to_owned(),
                "candidates[1].capabilities[0]".to_owned(),
                "candidates[1].capacity".to_owned(),
                "candidates[1].reputation".to_owned(),
                format!("candidates[1].preferences.{uuid1}"),
                "objectives[1].id".to_owned(),
                "objectives[1].required_capabilities".to_owned(),
                "objectives[1].priority".to_owned(),
            ]
        );
    }

    #[test]
    fn size_limits() {
        let limits = FormationLimits { max_candidates: 0, max_objectives: 1 };
        let mut big = input();
        big.objectives.push(FormationObjective { id: Uuid::from_u128(11), ..big.objectives[0].clone() });
        big.max_coalition_size = MAX_COALITION_SIZE + 1;
        assert_eq!(fields(&big, &limits), ["candidates", "objectives", "max_coalition_size"]);
        let mut none = input();
        none.objectives.clear();
        assert_eq!(fields(&none, &FormationLimits::default()), ["objectives"]);
        let mut largest = input();
        largest.max_coalition_size = MAX_COALITION_SIZE;
        assert!(fields(&largest, &FormationLimits::default()).is_empty());
    }

    #[test]
    fn strategies_by_name_and_default_sizes() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.as_str().parse::<Strategy>(), Ok(strategy));
            assert_eq!(serde_json::to_value(strategy).unwrap(), strategy.as_str());
        }
        assert!("random".parse::<Strategy>().is_err());
        assert_eq!(Strategy::default(), Strategy::Greedy);
        assert_eq!(Strategy::Greedy.default_max_coalition_size(), 10);
        assert_eq!(Strategy::Hierarchical.default_max_coalition_size(), 15);
    }

    #[test]
    fn json_defaults() {
        let candidate: Candidate = serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(1), "capacity": 1, "reputation": 0.5, "slots": 2
        }))
        .unwrap();
        assert!(candidate.capabilities.is_empty() && candidate.preferences.is_empty());
    }
}
