//! Example specs written for this service, in the text form (the JSON form is derived from it).

use serde::Serialize;
use serde_json::Value;

/// One example: its text form, and its JSON form when asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The spec in the text form.
    pub text: &'static str,
    /// The same spec in the JSON form.
    pub json: Value,
}

const SOURCES: [(&str, &str, &str, &str); 3] = [
    (
        "grid-explorer",
        "Grid explorer",
        "A 2×2 grid, one state per cell, five moves; it sees whether it stands on the goal and plans two steps to reach it.",
        include_str!("examples/grid_explorer.gmn"),
    ),
    (
        "resource-collector",
        "Resource collector",
        "Moves between a base and two fields, one of which is rich (and may change); an uncontrolled factor tracks which, harvesting reveals it.",
        include_str!("examples/resource_collector.gmn"),
    ),
    (
        "coalition-coordinator",
        "Coalition coordinator",
        "Chooses a task to match a partner it only sees through a noisy signal; coordination is the preferred outcome. Shows a likelihood depending on one of two factors and an llm_query node (not part of the model).",
        include_str!("examples/coalition_coordinator.gmn"),
    ),
];

/// Every example with both forms.
pub fn examples() -> Vec<Example> {
    SOURCES
        .iter()
        .map(|&(name, title, description, text)| Example {
            name,
            title,
            description,
            text,
            json: super::parse(text).map(|s| s.to_json()).unwrap_or(Value::Null),
        })
        .collect()
}
