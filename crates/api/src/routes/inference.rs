//! Stateless inference, GMN validation and examples, and the agent templates.
use crate::extract::{ValidJson, Validate};
use crate::routes::agents::GmnSource;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::ValidationErrors;
use freeagentics_inference::{RunRequest, RunResult, gmn, templates};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The model is a pymdp-layout generative model given inline; every setting defaults to pymdp's.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RunInferenceRequest(pub RunRequest);

/// The body of `POST /api/v1/inference/run`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the engine's `RunRequest` is what is deserialised
pub struct RunRequestSchema {
    /// `{"A": [...], "B": [...], "C": [...], "D": [...], "E": [...], "control_factors": [0]}`:
    /// nested arrays in pymdp's shapes (A per modality `[num_obs, num_states…]`, B per factor
    /// `[num_states, num_states, num_controls]`); `D`, `E` and `control_factors` are optional.
    #[schema(value_type = Object)]
    model: serde_json::Value,
    /// One observation per step: an outcome index per modality.
    observations: Vec<Vec<usize>>,
    #[schema(minimum = 1)]
    policy_len: Option<usize>,
    gamma: Option<f64>,
    alpha: Option<f64>,
    use_utility: Option<bool>,
    use_states_info_gain: Option<bool>,
    /// `deterministic` (default) or `stochastic`.
    action_selection: Option<String>,
    seed: Option<u64>,
}

impl Validate for RunInferenceRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// The agent loop's outcome at every step.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct RunInferenceResponse(pub RunResult);

#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the engine's `RunResult` is what is serialised
pub struct RunResultSchema {
    /// `[policy][timestep][factor]` control indices.
    policies: Vec<Vec<Vec<usize>>>,
    steps: Vec<RunStepSchema>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RunStepSchema {
    /// Posterior per factor.
    qs: Vec<Vec<f64>>,
    /// Policy posterior, in `policies` order.
    q_pi: Vec<f64>,
    /// pymdp's `G` (negative expected free energy), in `policies` order.
    #[schema(rename = "G")]
    g: Vec<f64>,
    action: Vec<usize>,
    free_energy: f64,
    entropy: f64,
}

/// Run the pymdp agent loop (0.0.7.1 defaults) over a model and observations, without storing
/// anything. Past its time budget (`INFERENCE_RUN_TIMEOUT_MS`) the answer is 503.
#[utoipa::path(post, path = "/api/v1/inference/run", tag = "inference", request_body = RunRequestSchema,
    responses((status = 200, description = "Every step's outcome", body = RunResultSchema)))]
pub async fn run_inference(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RunInferenceRequest>,
) -> Result<Json<RunInferenceResponse>, ApiError> {
    Ok(Json(RunInferenceResponse(state.engine.run(body.0).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateGmnRequest {
    /// The spec, in text form or as a JSON object (at most 100 KB).
    pub spec: GmnSource,
}

impl Validate for ValidateGmnRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GmnValidation {
    /// Always true: an invalid spec is a 422 listing every error with its position.
    pub valid: bool,
    #[schema(value_type = Object)]
    pub dimensions: gmn::Dimensions,
}

/// Check a GMN spec: the dimensions of the model it describes, or every error with its line and
/// column (text form) or field path (JSON form).
#[utoipa::path(post, path = "/api/v1/gmn/validate", tag = "inference", request_body = ValidateGmnRequest,
    responses((status = 200, description = "Valid: the model's dimensions", body = GmnValidation)))]
pub async fn validate_gmn(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<ValidateGmnRequest>,
) -> Result<Json<GmnValidation>, ApiError> {
    let dimensions = state.engine.validate_gmn(body.spec.into_text()).await?;
    Ok(Json(GmnValidation { valid: true, dimensions }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GmnExamples {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<gmn::Example>,
}

/// Example specs: a grid explorer, a resource collector, a coalition coordinator.
#[utoipa::path(get, path = "/api/v1/gmn/examples", tag = "inference",
    responses((status = 200, description = "The examples", body = GmnExamples)))]
pub async fn list_gmn_examples() -> Json<GmnExamples> {
    Json(GmnExamples { items: gmn::examples() })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    /// Each template with its parameters (name, type, default, bounds, description).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<templates::TemplateInfo>,
}

/// The agent templates and their parameters.
#[utoipa::path(get, path = "/api/v1/templates", tag = "agents",
    responses((status = 200, description = "The templates", body = TemplateList)))]
pub async fn list_templates() -> Json<TemplateList> {
    Json(TemplateList { items: templates::list() })
}
