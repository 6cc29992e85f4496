//! The outbox events of agent changes: topic `agent:<id>` (subscribers of `agents` get every
//! agent's), kind `agent.<change>`, and the agent as the REST API renders it.
use super::AgentView;
use freeagentics_store::{Agent, NewEvent};

pub const CREATED: &str = "agent.created";
pub const UPDATED: &str = "agent.updated";
pub const STATUS_CHANGED: &str = "agent.status_changed";
pub const STEPPED: &str = "agent.stepped";
pub const DELETED: &str = "agent.deleted";

pub fn topic(agent: &Agent) -> String {
    format!("agent:{}", agent.id)
}

/// The event of `kind` for the agent as it was written.
pub fn of(kind: &'static str) -> impl Fn(&Agent) -> NewEvent + Send + Sync {
    move |agent: &Agent| NewEvent {
        topic: topic(agent),
        kind: kind.to_owned(),
        payload: serde_json::to_value(AgentView::from(agent)).unwrap_or_default(),
    }
}
