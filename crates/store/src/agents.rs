//! Inputs and outputs of the agent store.
use crate::model::Cursor;
use freeagentics_core::AgentStatus;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub template: String,
    pub status: AgentStatus,
    pub capabilities: Vec<String>,
    pub parameters: Value,
    pub gmn_spec: Option<String>,
    /// Identifies the compiled model (template + parameters or GMN spec) for the model cache.
    pub model_key: String,
    pub step_count: i64,
    pub total_step_micros: i64,
    pub last_free_energy: Option<f64>,
    pub last_active_at: Option<OffsetDateTime>,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An agent with its engine state: what stepping it and showing its beliefs read. Every other
/// read leaves the state (several KiB for a larger model, rewritten on every step) in the database.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentWithState {
    pub agent: Agent,
    /// The inference engine's agent state (beliefs, last action, RNG) as JSON.
    pub state: String,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub template: String,
    pub capabilities: Vec<String>,
    pub parameters: Value,
    pub gmn_spec: Option<String>,
    pub model_key: String,
    pub state: String,
}

/// A partial update; `None` leaves the field as it is. Every change bumps `version`.
#[derive(Debug, Clone, Default)]
pub struct AgentChange {
    pub name: Option<String>,
    pub capabilities: Option<Vec<String>>,
    pub status: Option<AgentStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentQuery {
    pub status: Option<AgentStatus>,
    pub template: Option<String>,
    pub owner_id: Option<Uuid>,
    /// Names starting with this (case-sensitive).
    pub name_prefix: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// One step's record in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStep {
    pub agent_id: Uuid,
    /// 1 for the agent's first step.
    pub seq: i64,
    pub observation: Vec<usize>,
    pub action: Vec<usize>,
    pub free_energy: f64,
    pub entropy: f64,
    /// Per factor: the most likely state and its probability after the step.
    pub most_likely: Vec<(usize, f64)>,
    pub duration_micros: i64,
    pub created_at: OffsetDateTime,
}

impl Agent {
    /// The row `create_agent` writes for `new` at `now`: pending, version 1, never stepped.
    pub(crate) fn pending(new: NewAgent, now: OffsetDateTime) -> AgentWithState {
        let agent = Agent {
            id: new.id,
            owner_id: new.owner_id,
            name: new.name,
            template: new.template,
            status: AgentStatus::Pending,
            capabilities: new.capabilities,
            parameters: new.parameters,
            gmn_spec: new.gmn_spec,
            model_key: new.model_key,
            step_count: 0,
            total_step_micros: 0,
            last_free_energy: None,
            last_active_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        AgentWithState { agent, state: new.state }
    }

    /// The row `record_step` writes over this one at `now`.
    pub(crate) fn stepped(&self, write: &StepWrite, now: OffsetDateTime) -> Agent {
        Agent {
            step_count: self.step_count + 1,
            total_step_micros: self.total_step_micros + write.duration_micros,
            last_free_energy: Some(write.free_energy),
            last_active_at: Some(now),
            version: self.version + 1,
            updated_at: now,
            ..self.clone()
        }
    }
}

/// The current time as both databases store it (microseconds), so a row built in memory equals
/// the row read back.
pub(crate) fn stored_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
}

/// A step to persist: the agent's new state if it is still at the version `previous` was read
/// at, the history record, and how much history to keep.
#[derive(Debug, Clone)]
pub struct StepWrite {
    /// The agent as read, which the step was computed from.
    pub previous: Agent,
    pub state: String,
    pub observation: Vec<usize>,
    pub action: Vec<usize>,
    pub free_energy: f64,
    pub entropy: f64,
    pub most_likely: Vec<(usize, f64)>,
    pub duration_micros: i64,
    /// Steps kept per agent; older ones are deleted in the same transaction.
    pub history_limit: u32,
}

/// A page of history, newest first; `next` is the `seq` to continue before.
#[derive(Debug, Clone)]
pub struct StepPage {
    pub items: Vec<AgentStep>,
    pub next: Option<i64>,
}

/// Agents per status, for the gauge.
pub type StatusCounts = Vec<(AgentStatus, i64)>;

/// Names starting with `prefix` are those in `[prefix, upper)`: the prefix with its last character
/// incremented (`None` when no such bound exists, e.g. every character is the maximum).
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        // skip the surrogate gap
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound(""), None);
    }
}
