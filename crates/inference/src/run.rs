//! The stateless run: a model, settings and a sequence of observations in; the agent loop's
//! record out. Request and response are serde types in the API's shape.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::{AgentState, StepOutput, step_with};
use crate::compiled::{CompileError, CompiledModel};
use crate::error::{FieldError, RunError};
use crate::limits::Limits;
use crate::model::Model;
use crate::settings::{ActionSelection, Settings};
use crate::tensor::kind;
use crate::workspace::Workspace;

/// `POST /api/v1/inference/run`'s body. Everything but `model` and `observations` is optional
/// with pymdp's defaults; `seed` defaults to 0 (the same request gives the same answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub model: Value,
    /// One entry per step: a list with one outcome index per modality (a bare index is accepted
    /// for a one-modality model).
    pub observations: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_utility: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_states_info_gain: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_selection: Option<ActionSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The record of a run: `policies` as `[policy][timestep][factor]`, one entry per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub policies: Vec<Vec<Vec<usize>>>,
    pub steps: Vec<StepOutput>,
}

impl RunRequest {
    pub fn settings(&self) -> Settings {
        let d = Settings::default();
        Settings {
            policy_len: self.policy_len.unwrap_or(d.policy_len),
            gamma: self.gamma.unwrap_or(d.gamma),
            alpha: self.alpha.unwrap_or(d.alpha),
            use_utility: self.use_utility.unwrap_or(d.use_utility),
            use_states_info_gain: self.use_states_info_gain.unwrap_or(d.use_states_info_gain),
            action_selection: self.action_selection.unwrap_or(d.action_selection),
        }
    }

    /// Validates and compiles the model (callers with a compiled-model cache key it by
    /// [`Model::content_hash`] and the settings, or by [`CompiledModel::cache_key`]).
    pub fn compile(&self, limits: &Limits) -> Result<CompiledModel, RunError> {
        let model = Model::from_json(&self.model, limits).map_err(RunError::Model)?;
        CompiledModel::new(&model, &self.settings(), limits).map_err(|e| match e {
            CompileError::Model(m) => RunError::Model(m),
            CompileError::Settings(s) => RunError::Invalid(s),
        })
    }

    /// Compiles, checks the observations, and runs.
    pub fn run(&self, limits: &Limits, deadline: Option<Instant>) -> Result<RunResult, RunError> {
        let compiled = self.compile(limits)?;
        let observations =
            parse_observations(&self.observations, compiled.num_obs(), limits).map_err(RunError::Invalid)?;
        run(&compiled, &observations, self.seed.unwrap_or(0), deadline)
    }
}

/// Runs a fresh agent over `observations` in order.
pub fn run(
    model: &CompiledModel,
    observations: &[Vec<usize>],
    seed: u64,
    deadline: Option<Instant>,
) -> Result<RunResult, RunError> {
    let mut state = AgentState::new(seed);
    let mut ws = Workspace::new();
    let mut steps = Vec::with_capacity(observations.len());
    for (i, obs) in observations.iter().enumerate() {
        let out = step_with(model, &mut state, obs, deadline, &mut ws)
            .map_err(|source| RunError::Step { step: i, source })?;
        steps.push(out);
    }
    Ok(RunResult { policies: model.policies(), steps })
}

/// Reads `[[o_0, o_1, …], …]` (or `[o, …]` for one modality) and checks every index against
/// its modality; errors name `observations[step][modality]`.
pub fn parse_observations(
    value: &Value,
    num_obs: &[usize],
    limits: &Limits,
) -> Result<Vec<Vec<usize>>, Vec<FieldError>> {
    let Value::Array(steps) = value else {
        return Err(vec![FieldError::new(
            "observations",
            format!("expected a list of observations, found {}", kind(value)),
        )]);
    };
    if steps.is_empty() {
        return Err(vec![FieldError::new("observations", "at least one observation is required")]);
    }
    if steps.len() > limits.max_steps_per_run {
        return Err(vec![FieldError::new(
            "observations",
            format!("{} observations, at most {} (max_steps_per_run)", steps.len(), limits.max_steps_per_run),
        )]);
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(steps.len());
    for (t, step) in steps.iter().enumerate() {
        let entries: Vec<&Value> = match step {
            Value::Array(items) => items.iter().collect(),
            single if num_obs.len() == 1 => vec![single],
            other => {
                errors.push(FieldError::new(
                    format!("observations[{t}]"),
                    format!("expected a list of {} outcome indices, found {}", num_obs.len(), kind(other)),
                ));
                continue;
            }
        };
        if entries.len() != num_obs.len() {
            errors.push(FieldError::new(
                format!("observations[{t}]"),
                format!("{} entries, the model has {} modalities", entries.len(), num_obs.len()),
            ));
            continue;
        }
        let mut obs = Vec::with_capacity(entries.len());
        for (m, (v, &n)) in entries.iter().zip(num_obs).enumerate() {
            match v.as_u64() {
                Some(o) if (o as u128) < n as u128 => obs.push(o as usize),
                _ => errors.push(FieldError::new(
                    format!("observations[{t}][{m}]"),
                    format!("step {t}, modality {m}: {v} is not an outcome index in 0..{n}"),
                )),
            }
        }
        out.push(obs);
        if errors.len() >= crate::error::MAX_REPORTED_ERRORS {
            break;
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}
