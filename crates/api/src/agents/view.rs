//! Agents as clients see them, in responses and in the event stream alike.
use freeagentics_core::AgentStatus;
use freeagentics_store::Agent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// `basic-explorer`, `goal-optimizer`, `pattern-predictor`, or `gmn_agent` (built from `gmn_spec`).
    pub template: String,
    #[schema(value_type = AgentStatusName)]
    pub status: AgentStatus,
    pub capabilities: Vec<String>,
    /// The template's parameters as given (defaults apply to the rest: `GET /api/v1/templates`).
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// The GMN spec the model was built from, for `gmn_agent` agents.
    pub gmn_spec: Option<String>,
    pub step_count: i64,
    /// Mean engine time per step, in milliseconds (0 before the first step).
    pub mean_step_ms: f64,
    pub last_free_energy: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_active_at: Option<OffsetDateTime>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An agent status (the schema of status fields and parameters).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatusName {
    Pending,
    Active,
    Paused,
    Stopped,
    Error,
}

impl From<&Agent> for AgentView {
    fn from(agent: &Agent) -> Self {
        let mean_step_ms =
            if agent.step_count > 0 { agent.total_step_micros as f64 / agent.step_count as f64 / 1000.0 } else { 0.0 };
        AgentView {
            id: agent.id,
            owner_id: agent.owner_id,
            name: agent.name.clone(),
            template: agent.template.clone(),
            status: agent.status,
            capabilities: agent.capabilities.clone(),
            parameters: agent.parameters.clone(),
            gmn_spec: agent.gmn_spec.clone(),
            step_count: agent.step_count,
            mean_step_ms,
            last_free_energy: agent.last_free_energy,
            last_active_at: agent.last_active_at,
            version: agent.version,
            created_at: agent.created_at,
            updated_at: agent.updated_at,
        }
    }
}
