//! `/api/v1/agents/{id}/step` and what stepping leaves behind: beliefs, history, metrics.
use crate::agents::beliefs::{self, definition, most_likely};
use crate::agents::{StepState, events};
use crate::auth::AuthUser;
use crate::extract::{PageParams, ValidJson, ValidPath, ValidQuery, Validate};
use crate::routes::agents::{AgentId, changed, current_with_state, may_change};
use crate::{ApiError, AppState, idempotency};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use freeagentics_core::{AgentStatus, ValidationErrors};
use freeagentics_store::{Cursor, StepWrite, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A step computed from a read that a concurrent step overtook is computed again from the new
/// beliefs; after this many overtakes the request gives up with 409.
const STEP_ATTEMPTS: usize = 3;
/// Longest observation accepted (one index per modality; models have at most a few).
const MAX_MODALITIES: usize = 64;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// One outcome index per observation modality of the agent's model.
    #[schema(min_items = 1, max_items = 64)]
    pub observation: Vec<usize>,
}

impl Validate for StepRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.observation.is_empty() || self.observation.len() > MAX_MODALITIES {
            errors.add("observation", format!("must have 1 to {MAX_MODALITIES} entries, one per modality"));
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepResponse {
    pub agent_id: Uuid,
    /// 1 for the agent's first step.
    pub step: i64,
    /// The chosen control per hidden-state factor.
    pub action: Vec<usize>,
    /// Posterior beliefs: a distribution over each factor's states.
    pub beliefs: Vec<Vec<f64>>,
    /// Posterior over policies, in the order of `GET …/beliefs`' `policies`.
    pub policy_posterior: Vec<f64>,
    /// Expected free energy of each policy (lower is better; pymdp's `G` negated).
    pub expected_free_energy: Vec<f64>,
    /// Variational free energy of the posterior (complexity − accuracy).
    pub free_energy: f64,
    /// Entropy of the posterior beliefs.
    pub entropy: f64,
    pub timing: StepTiming,
    /// The agent's version after the step (its `ETag`).
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepTiming {
    /// Engine time of the step.
    pub inference_ms: f64,
    /// The whole request: queueing, the engine and persistence.
    pub total_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BeliefsResponse {
    pub agent_id: Uuid,
    pub step_count: i64,
    /// A distribution over each factor's states (the prior `D` before the first step).
    pub beliefs: Vec<Vec<f64>>,
    /// Per factor: the most likely state and its probability.
    pub most_likely: Vec<MostLikely>,
    pub last_action: Option<Vec<usize>>,
    /// Policies as `[policy][timestep][factor]` control indices.
    pub policies: Vec<Vec<Vec<usize>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MostLikely {
    pub state: usize,
    pub probability: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub step: i64,
    pub observation: Vec<usize>,
    pub action: Vec<usize>,
    pub free_energy: f64,
    pub entropy: f64,
    pub most_likely: Vec<MostLikely>,
    pub inference_ms: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub items: Vec<HistoryEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentMetrics {
    pub agent_id: Uuid,
    #[schema(value_type = crate::agents::view::AgentStatusName)]
    pub status: AgentStatus,
    pub step_count: i64,
    /// Mean engine time per step, in milliseconds.
    pub mean_step_ms: f64,
    pub last_free_energy: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_active_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

impl Validate for HistoryQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        PageParams { limit: self.limit, cursor: self.cursor.clone() }.validate()
    }
}

/// Step an active agent with an observation: one perception–action cycle of the engine. Two
/// concurrent steps never lose an update: the second is computed from the first's beliefs.
#[utoipa::path(post, path = "/api/v1/agents/{id}/step", tag = "agents", params(("id" = Uuid, Path)),
    request_body = StepRequest,
    responses(
        (status = 200, description = "The step's outcome", body = StepResponse),
        (status = 403, description = "Not the agent's owner (nor an admin)"),
        (status = 409, description = "The agent is not active, or concurrent steps kept overtaking this one, \
            or a request with this `Idempotency-Key` is still running"),
    ))]
pub async fn step_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<StepRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(&headers)?;
    let operation = format!("step_agent:{id}");
    idempotency::once(&state, user.user.id, key, &operation, &body, || step(&state, &user, id, &body.observation)).await
}

async fn step(state: &AppState, user: &AuthUser, id: Uuid, observation: &[usize]) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    for _ in 0..STEP_ATTEMPTS {
        let kept = state.caches.step_states.current(state, id).await?;
        let agent = &kept.agent;
        may_change(user, agent)?;
        if agent.status != AgentStatus::Active {
            return Err(ApiError::Conflict {
                detail: format!("the agent is {}; only an active agent is stepped (POST …/status)", agent.status),
                errors: Vec::new(),
            });
        }
        let model = state.engine.compiled(&agent.model_key, &definition(agent)).await?;
        let (output, next, took) = state.engine.step(model, kept.state.clone(), observation.to_vec()).await?;
        let write = StepWrite {
            state: serde_json::to_string(&next).map_err(|e| ApiError::internal("encoding an agent's state", e))?,
            observation: observation.to_vec(),
            action: output.action.clone(),
            free_energy: output.free_energy,
            entropy: output.entropy,
            most_likely: most_likely(&output.qs),
            duration_micros: i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
            history_limit: state.engine.settings().history_limit,
            previous: agent.clone(),
        };
        match state.store.record_step(write, &events::of(events::STEPPED)).await {
            Ok(stepped) => {
                changed(state, id).await;
                let caches = &state.caches;
                caches.step_states.keep(&caches.agents, StepState { agent: stepped.clone(), state: next }).await;
                metrics::counter!("freeagentics_agent_interactions_total", "template" => stepped.template.clone())
                    .increment(1);
                metrics::histogram!("freeagentics_inference_duration_seconds").record(took.as_secs_f64());
                let response = StepResponse {
                    agent_id: id,
                    step: stepped.step_count,
                    action: output.action,
                    beliefs: output.qs,
                    policy_posterior: output.q_pi,
                    expected_free_energy: output.g.iter().map(|g| -g).collect(),
                    free_energy: output.free_energy,
                    entropy: output.entropy,
                    timing: StepTiming {
                        inference_ms: took.as_secs_f64() * 1000.0,
                        total_ms: started.elapsed().as_secs_f64() * 1000.0,
                    },
                    version: stepped.version,
                };
                return Ok((StatusCode::OK, Json(response)).into_response());
            }
            // a concurrent step (or change) got there first: compute again from what it left
            Err(StoreError::VersionMismatch) => state.caches.step_states.forget(id).await,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict {
        detail: format!("{STEP_ATTEMPTS} concurrent changes to this agent overtook this step; retry it"),
        errors: Vec::new(),
    })
}

/// The agent's current beliefs, the most likely state of each factor, and its policies.
#[utoipa::path(get, path = "/api/v1/agents/{id}/beliefs", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Current beliefs", body = BeliefsResponse)))]
pub async fn get_agent_beliefs(
    State(state): State<AppState>,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
) -> Result<Json<BeliefsResponse>, ApiError> {
    let agent = current_with_state(&state, id).await?;
    let beliefs::Current { beliefs, saved, model } = beliefs::current(&state, &agent).await?;
    Ok(Json(BeliefsResponse {
        agent_id: id,
        step_count: agent.agent.step_count,
        most_likely: most_likely(&beliefs)
            .into_iter()
            .map(|(state, probability)| MostLikely { state, probability })
            .collect(),
        beliefs,
        last_action: saved.last_action,
        policies: model.policies(),
    }))
}

/// Past steps, newest first (the last `AGENT_HISTORY_LIMIT` are kept).
#[utoipa::path(get, path = "/api/v1/agents/{id}/history", tag = "agents", params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, description = "A page of past steps", body = HistoryPage)))]
pub async fn list_agent_history(
    State(state): State<AppState>,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
    ValidQuery(query): ValidQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    // a missing agent is a 404, not an empty history
    crate::routes::agents::view(&state, id).await?;
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    // the cursor carries the step number the next page continues before
    let before = page.cursor().map(|c| i64::try_from(c.0.as_u128()).unwrap_or(i64::MAX));
    let found = state.store.list_steps(id, page.limit(), before).await?;
    let items = found
        .items
        .into_iter()
        .map(|s| HistoryEntry {
            step: s.seq,
            observation: s.observation,
            action: s.action,
            free_energy: s.free_energy,
            entropy: s.entropy,
            most_likely: s
                .most_likely
                .into_iter()
                .map(|(state, probability)| MostLikely { state, probability })
                .collect(),
            inference_ms: s.duration_micros as f64 / 1000.0,
            created_at: s.created_at,
        })
        .collect();
    let next_cursor = found.next.map(|seq| Cursor(Uuid::from_u128(u128::try_from(seq).unwrap_or(0))).encode());
    Ok(Json(HistoryPage { items, next_cursor }))
}

/// Step count, mean step time, last free energy and last activity.
#[utoipa::path(get, path = "/api/v1/agents/{id}/metrics", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The agent's counters", body = AgentMetrics)))]
pub async fn get_agent_metrics(
    State(state): State<AppState>,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
) -> Result<Json<AgentMetrics>, ApiError> {
    let agent = crate::routes::agents::view(&state, id).await?;
    Ok(Json(AgentMetrics {
        agent_id: id,
        status: agent.status,
        step_count: agent.step_count,
        mean_step_ms: agent.mean_step_ms,
        last_free_energy: agent.last_free_energy,
        last_active_at: agent.last_active_at,
    }))
}
