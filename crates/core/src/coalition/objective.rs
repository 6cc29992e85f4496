//! Objectives: what a coalition works toward, and whether its members can do it.
use crate::ValidationErrors;
use crate::validation::{check_unit_interval, field_path};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use time::OffsetDateTime;

pub const OBJECTIVE_DESCRIPTION_MAX: usize = 1000;
pub const CAPABILITY_MAX_CHARS: usize = 100;
/// Formation keeps an objective's requirements in a 64-bit set; 32 leaves room and is far more than
/// any objective a person writes needs.
pub const REQUIRED_CAPABILITIES_MAX: usize = 32;

/// One objective of a coalition. Progress 1.0 completes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub description: String,
    #[serde(default)]
    pub required_capabilities: Vec<String>,
    pub priority: f64,
    #[serde(default)]
    pub progress: f64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deadline: Option<OffsetDateTime>,
}

impl Objective {
    pub fn is_complete(&self) -> bool {
        self.progress >= 1.0
    }
}

/// Capabilities are compared as exact strings, so the rules refuse spellings that only differ in
/// invisible ways (surrounding or control whitespace) instead of silently never matching them.
pub fn validate_capability(capability: &str) -> Result<(), String> {
    let chars = capability.chars().count();
    if chars == 0 || chars > CAPABILITY_MAX_CHARS {
        return Err(format!("must be 1 to {CAPABILITY_MAX_CHARS} characters"));
    }
    if capability.trim() != capability || capability.chars().any(char::is_control) {
        return Err("must not start or end with whitespace or contain control characters".to_owned());
    }
    Ok(())
}

/// Checks a list of required capabilities: each valid, none repeated, at most
/// [`REQUIRED_CAPABILITIES_MAX`]. Errors are reported under `field`.
pub fn validate_required_capabilities(capabilities: &[String], field: &str, errors: &mut ValidationErrors) {
    if capabilities.len() > REQUIRED_CAPABILITIES_MAX {
        errors.add(field, format!("must list at most {REQUIRED_CAPABILITIES_MAX} capabilities"));
    }
    let mut seen = HashSet::new();
    for (i, capability) in capabilities.iter().enumerate() {
        errors.check(&format!("{field}[{i}]"), validate_capability(capability));
        if !seen.insert(capability.as_str()) {
            errors.add(format!("{field}[{i}]"), format!("`{capability}` is listed twice"));
        }
    }
}

/// Every rule an objective must meet, under `prefix` (e.g. `objectives[0]`, or "" for a body that is
/// the objective itself). Deadlines in the past are accepted: objectives are also recorded after
/// the fact.
pub fn validate_objective(objective: &Objective, prefix: &str, errors: &mut ValidationErrors) {
    let description_chars = objective.description.chars().count();
    if objective.description.trim().is_empty() || description_chars > OBJECTIVE_DESCRIPTION_MAX {
        errors.add(
            field_path(prefix, "description"),
            format!("must be 1 to {OBJECTIVE_DESCRIPTION_MAX} characters, not blank"),
        );
    }
    validate_required_capabilities(
        &objective.required_capabilities,
        &field_path(prefix, "required_capabilities"),
        errors,
    );
    errors.check(&field_path(prefix, "priority"), check_unit_interval(objective.priority));
    errors.check(&field_path(prefix, "progress"), check_unit_interval(objective.progress));
}

/// The required capabilities no member holds, sorted and without repeats; empty when the members
/// cover the objective (an objective that requires nothing is always covered).
pub fn missing_capabilities<'a>(
    required: &'a [String],
    members: impl IntoIterator<Item = &'a [String]>,
) -> Vec<String> {
    let held: HashSet<&str> = members.into_iter().flatten().map(String::as_str).collect();
    let missing: BTreeSet<&str> = required.iter().map(String::as_str).filter(|c| !held.contains(c)).collect();
    missing.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn objective() -> Objective {
        Objective {
            description: "map the north sector".to_owned(),
            required_capabilities: caps(&["navigation", "sensing"]),
            priority: 0.8,
            progress: 0.0,
            deadline: None,
        }
    }

    fn fields(objective: &Objective, prefix: &str) -> Vec<String> {
        let mut errors = ValidationErrors::new();
        validate_objective(objective, prefix, &mut errors);
        errors.into_vec().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_valid_objective_passes_and_progress_one_completes_it() {
        let mut o = objective();
        assert!(fields(&o, "").is_empty());
        assert!(!o.is_complete());
        o.progress = 0.999;
        assert!(!o.is_complete());
        o.progress = 1.0;
        assert!(o.is_complete());
        assert!(fields(&o, "").is_empty());
    }

    #[test]
    fn every_bad_field_is_reported_at_once_under_the_prefix() {
        let o = Objective {
            description: "  ".to_owned(),
            required_capabilities: caps(&["sensing", " sensing", "sensing", ""]),
            priority: 1.5,
            progress: f64::NAN,
            deadline: None,
        };
        assert_eq!(
            fields(&o, "objectives[1]"),
            [
                "objectives[1].description",
                "objectives[1].required_capabilities[1]",
                "objectives[1].required_capabilities[2]",
                "objectives[1].required_capabilities[3]",
                "objectives[1].priority",
                "objectives[1].progress",
            ]
        );
    }

    #[test]
    fn description_and_capability_limits() {
        let mut o = objective();
        o.description = "é".repeat(OBJECTIVE_DESCRIPTION_MAX);
        assert!(fields(&o, "").is_empty(), "characters, not bytes");
        o.description.push('x');
        assert_eq!(fields(&o, ""), ["description"]);

        let mut o = objective();
        o.required_capabilities = (0..=REQUIRED_CAPABILITIES_MAX).map(|i| format!("c{i}")).collect();
        assert_eq!(fields(&o, ""), ["required_capabilities"]);
        o.required_capabilities.truncate(REQUIRED_CAPABILITIES_MAX);
        assert!(fields(&o, "").is_empty());

        assert!(validate_capability(&"a".repeat(CAPABILITY_MAX_CHARS)).is_ok());
        assert!(validate_capability(&"a".repeat(CAPABILITY_MAX_CHARS + 1)).is_err());
        assert!(validate_capability("tab\there").is_err());
        assert!(validate_capability("two words").is_ok());
    }

    #[test]
    fn missing_capabilities_are_sorted_and_unique() {
        let required = caps(&["sensing", "lifting", "navigation", "comms"]);
        let a = caps(&["navigation"]);
        let b = caps(&["comms", "cooking"]);
        assert_eq!(missing_capabilities(&required, [a.as_slice(), b.as_slice()]), ["lifting", "sensing"]);
        assert_eq!(missing_capabilities(&required, []), ["comms", "lifting", "navigation", "sensing"]);
        let all = caps(&["sensing", "lifting", "navigation", "comms"]);
        assert!(missing_capabilities(&required, [all.as_slice()]).is_empty());
        assert!(missing_capabilities(&[], [a.as_slice()]).is_empty());
    }

    #[test]
    fn json_shape() {
        let o: Objective = serde_json::from_value(serde_json::json!({
            "description": "x", "priority": 0.5, "deadline": "2027-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(o.progress, 0.0);
        assert!(o.required_capabilities.is_empty());
        assert_eq!(o.deadline.unwrap().year(), 2027);
        let back = serde_json::to_value(&o).unwrap();
        assert_eq!(back["deadline"], "2027-01-01T00:00:00Z");
    }
}
