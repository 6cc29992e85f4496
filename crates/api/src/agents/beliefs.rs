//! An agent's beliefs as stored: its saved engine state read back, its model from the cache, and
//! the most likely state of each factor (beliefs, knowledge graph and the step's answer alike).
use super::ModelDefinition;
use crate::{ApiError, AppState};
use freeagentics_inference::{AgentState, CompiledModel};
use freeagentics_store::{Agent, AgentWithState};
use std::sync::Arc;

/// The agent's current beliefs (the prior `D` before its first step), its saved state and model.
pub(crate) struct Current {
    pub beliefs: Vec<Vec<f64>>,
    pub saved: AgentState,
    pub model: Arc<CompiledModel>,
}

pub(crate) async fn current(state: &AppState, agent: &AgentWithState) -> Result<Current, ApiError> {
    let model = state.engine.compiled(&agent.agent.model_key, &definition(&agent.agent)).await?;
    let mut saved = saved_state(agent)?;
    let beliefs = if saved.qs.is_empty() { model.prior() } else { std::mem::take(&mut saved.qs) };
    Ok(Current { beliefs, saved, model })
}

/// Per factor: the most likely state and its probability.
pub(crate) fn most_likely(beliefs: &[Vec<f64>]) -> Vec<(usize, f64)> {
    beliefs
        .iter()
        .map(|q| {
            q.iter().copied().enumerate().fold((0, f64::MIN), |best, (i, p)| if p > best.1 { (i, p) } else { best })
        })
        .collect()
}

pub(crate) fn saved_state(agent: &AgentWithState) -> Result<AgentState, ApiError> {
    serde_json::from_str(&agent.state).map_err(|e| ApiError::internal("reading an agent's state", e))
}

pub(crate) fn definition(agent: &Agent) -> ModelDefinition {
    ModelDefinition {
        template: agent.template.clone(),
        parameters: agent.parameters.clone(),
        gmn_spec: agent.gmn_spec.clone(),
    }
}
