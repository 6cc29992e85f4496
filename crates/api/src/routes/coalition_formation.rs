//! `POST /api/v1/coalitions/form`: coalitions from objectives and candidate agents, by one of three
//! strategies, persisted in one transaction unless `dry_run`.
use crate::auth::AuthUser;
use crate::coalitions::formation::{RequestedObjective, candidate, writes};
use crate::coalitions::{self, CoalitionView, events};
use crate::extract::{ValidJson, Validate};
use crate::routes::coalitions::ObjectiveRequest;
use crate::{ApiError, AppState, idempotency};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use freeagentics_core::coalition::{
    FormationError, FormationInput, FormationLimits, OBJECTIVES_MAX, Strategy, validate_max_size,
};
use freeagentics_core::{Permission, ValidationErrors, new_id};
use freeagentics_store::{CoalitionRefusal, FormationCandidate, FormationWrite, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::ToSchema;
use uuid::Uuid;

/// Explicit candidates at most; without a list, the caller's active agents (up to
/// [`FormationLimits::max_candidates`]) are the candidates.
pub const AGENT_IDS_MAX: usize = 1000;

/// A strategy name (the schema of `strategy`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    Greedy,
    Optimal,
    Hierarchical,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormCoalitionsRequest {
    /// 1–50 objectives, each with at least one required capability.
    #[schema(min_items = 1, max_items = 50)]
    pub objectives: Vec<ObjectiveRequest>,
    /// The candidates (at most 1000, each one you may change and neither stopped nor errored).
    /// Default: every active agent you may change.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, max_items = 1000)]
    pub agent_ids: Option<Vec<Uuid>>,
    /// `greedy` (default), `optimal` (exact; at most 8 eligible agents and 8 objectives) or
    /// `hierarchical`.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(value_type = Option<StrategyName>, nullable = false)]
    pub strategy: Option<Strategy>,
    /// Members per coalition at most (1–100; default 10, 15 for hierarchical).
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub max_size: Option<i64>,
    /// Answer what would be formed without persisting anything.
    #[serde(default)]
    pub dry_run: bool,
}

impl Validate for FormCoalitionsRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.objectives.is_empty() || self.objectives.len() > OBJECTIVES_MAX {
            errors.add("objectives", format!("must list 1 to {OBJECTIVES_MAX} objectives"));
        }
        for (i, objective) in self.objectives.iter().enumerate() {
            let prefix = format!("objectives[{i}]");
            objective.check(&prefix, &mut errors);
            if objective.required_capabilities.is_empty() {
                errors.add(
                    format!("{prefix}.required_capabilities"),
                    "formation needs at least one required capability to match agents against",
                );
            }
        }
        if let Some(ids) = &self.agent_ids
            && ids.len() > AGENT_IDS_MAX
        {
            errors.add("agent_ids", format!("must list at most {AGENT_IDS_MAX} agents"));
        }
        if let Some(max_size) = self.max_size {
            errors.check("max_size", validate_max_size(max_size));
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormedMemberView {
    pub agent_id: Uuid,
    #[schema(value_type = crate::coalitions::view::MemberRoleName)]
    pub role: freeagentics_core::coalition::MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormedCoalitionView {
    /// The persisted coalition (absent on a dry run).
    pub coalition: Option<CoalitionView>,
    /// Positions in the request's `objectives` this coalition serves.
    pub objectives: Vec<usize>,
    pub leader_id: Uuid,
    pub members: Vec<FormedMemberView>,
    /// The share of its objectives' required capabilities its members hold (0–1).
    pub coverage: f64,
    pub score: f64,
    pub uncovered_capabilities: Vec<String>,
    pub covers_objectives: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveCoverageView {
    /// Position in the request's `objectives`.
    pub objective: usize,
    /// Position in `coalitions`; absent when no coalition serves it.
    pub coalition: Option<usize>,
    pub coverage: f64,
    pub value: f64,
    pub missing_capabilities: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormationView {
    #[schema(value_type = StrategyName)]
    pub strategy: Strategy,
    pub dry_run: bool,
    pub coalitions: Vec<FormedCoalitionView>,
    /// Candidates placed in no coalition.
    pub unassigned_agents: Vec<Uuid>,
    pub objective_coverage: Vec<ObjectiveCoverageView>,
    /// The share of objectives whose required capabilities are all covered.
    pub coverage_rate: f64,
    pub total_score: f64,
    /// Time the strategy took, in milliseconds.
    pub duration_ms: f64,
    pub candidates: usize,
}

/// Form coalitions for objectives from candidate agents, and persist them (status `active`, owned
/// by you) in one transaction — unless `dry_run`. Each coalition reports its coverage and score;
/// objectives nobody can serve and agents placed nowhere are reported too. No agent is put in more
/// coalitions than `COALITION_MAX_PER_AGENT`, counting the ones it is already in.
#[utoipa::path(post, path = "/api/v1/coalitions/form", tag = "coalitions", request_body = FormCoalitionsRequest,
    responses(
        (status = 200, description = "Dry run: what would be formed", body = FormationView),
        (status = 201, description = "Formed and persisted", body = FormationView),
        (status = 403, description = "An `agent_ids` entry is an agent you may not change"),
        (status = 409, description = "A candidate's coalitions changed while forming; retry"),
    ))]
pub async fn form_coalitions(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ValidJson(body): ValidJson<FormCoalitionsRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(&headers)?;
    idempotency::once(&state, user.user.id, key, "form_coalitions", &body, || form(&state, &user, &body)).await
}

async fn form(state: &AppState, user: &AuthUser, body: &FormCoalitionsRequest) -> Result<Response, ApiError> {
    let strategy = body.strategy.unwrap_or_default();
    let result = run(state, user, body, strategy).await;
    let outcome = match &result {
        Ok(_) if body.dry_run => "dry_run",
        Ok(_) => "formed",
        Err(ApiError::Validation(_)) => "rejected",
        Err(ApiError::Conflict { .. }) => "conflict",
        Err(_) => "error",
    };
    metrics::counter!("freeagentics_coalition_formations_total", "strategy" => strategy.as_str(), "outcome" => outcome)
        .increment(1);
    result
}

async fn run(
    state: &AppState,
    user: &AuthUser,
    body: &FormCoalitionsRequest,
    strategy: Strategy,
) -> Result<Response, ApiError> {
    let max_per_agent = state.config.coalition_max_per_agent;
    let limits = FormationLimits::default();
    let agents = candidates(state, user, body.agent_ids.as_deref(), limits.max_candidates).await?;
    let objectives: Vec<RequestedObjective> = body
        .objectives
        .iter()
        .cloned()
        .map(|o| RequestedObjective { objective: ObjectiveRequest { progress: 0.0, ..o }.into_new() })
        .collect();
    let max_size = body.max_size.unwrap_or(strategy.default_max_coalition_size() as i64);
    let input = FormationInput {
        candidates: agents.iter().map(|a| candidate(a, max_per_agent)).collect(),
        objectives: objectives.iter().map(RequestedObjective::formation).collect(),
        max_coalition_size: usize::try_from(max_size).unwrap_or(0),
    };
    let started = Instant::now();
    let formed = state.engine.form_coalitions(input, strategy, limits).await?;
    let elapsed = started.elapsed();
    metrics::histogram!("freeagentics_coalition_formation_duration_seconds", "strategy" => strategy.as_str())
        .record(elapsed.as_secs_f64());
    let outcome = formed.map_err(|error| match error {
        FormationError::Invalid(errors) => ApiError::from(errors),
        too_large @ FormationError::TooLargeForOptimal { .. } => {
            ApiError::validation("strategy", too_large.to_string())
        }
    })?;

    let position = |id: Uuid| objectives.iter().position(|o| o.objective.id == id).unwrap_or(usize::MAX);
    let persisted = if body.dry_run {
        Vec::new()
    } else {
        let coalitions = writes(&outcome, &objectives, user.user.id, max_size, strategy, &mut new_id);
        let write = FormationWrite { coalitions, max_coalitions: max_per_agent };
        let details = match state.store.persist_formation(write, &events::of).await {
            Err(StoreError::Refused(CoalitionRefusal::Join(refused))) => {
                return Err(ApiError::Conflict {
                    detail: format!("a candidate changed while forming ({refused}); retry"),
                    errors: Vec::new(),
                });
            }
            other => other?,
        };
        let ids: Vec<Uuid> = details.iter().map(|d| d.coalition.id).collect();
        coalitions::changed(state, &ids).await;
        details.iter().map(|d| Some(CoalitionView::from(d))).collect()
    };
    let view = FormationView {
        strategy,
        dry_run: body.dry_run,
        coalitions: outcome
            .coalitions
            .iter()
            .enumerate()
            .map(|(i, c)| FormedCoalitionView {
                coalition: persisted.get(i).cloned().flatten(),
                objectives: c.objective_ids.iter().map(|id| position(*id)).collect(),
                leader_id: c.leader,
                members: c.members.iter().map(|m| FormedMemberView { agent_id: m.agent_id, role: m.role }).collect(),
                coverage: c.coverage,
                score: c.score,
                uncovered_capabilities: c.uncovered_capabilities.clone(),
                covers_objectives: c.covers_objectives,
            })
            .collect(),
        unassigned_agents: outcome.unassigned_agents.clone(),
        objective_coverage: outcome
            .objective_coverage
            .iter()
            .map(|o| ObjectiveCoverageView {
                objective: position(o.objective_id),
                coalition: o.coalition,
                coverage: o.coverage,
                value: o.value,
                missing_capabilities: o.missing_capabilities.clone(),
            })
            .collect(),
        coverage_rate: outcome.coverage_rate,
        total_score: outcome.total_score,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        candidates: agents.len(),
    };
    let status = if body.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(view)).into_response())
}

/// The candidates: the listed agents (each must exist, be changeable by the caller and able to
/// join), or every active agent the caller may change.
async fn candidates(
    state: &AppState,
    user: &AuthUser,
    agent_ids: Option<&[Uuid]>,
    max_candidates: usize,
) -> Result<Vec<FormationCandidate>, ApiError> {
    let admin = user.can(Permission::AdminSystem);
    let limit = u32::try_from(max_candidates).unwrap_or(u32::MAX);
    let Some(ids) = agent_ids else {
        let owner = if admin { None } else { Some(user.user.id) };
        return Ok(state.store.formation_candidates(None, owner, limit).await?);
    };
    let found = state.store.formation_candidates(Some(ids), None, limit).await?;
    let mut errors = ValidationErrors::new();
    for (i, id) in ids.iter().enumerate() {
        match found.iter().find(|a| a.agent_id == *id) {
            None => errors.add(format!("agent_ids[{i}]"), "no such agent"),
            Some(agent) if !user.owns_or_admin(agent.owner_id) => {
                return Err(ApiError::Forbidden(format!(
                    "agent_ids[{i}]: only the agent's owner or an admin may put it in a coalition"
                )));
            }
            Some(agent) if !agent.status.may_join_coalition() => {
                errors.add(
                    format!("agent_ids[{i}]"),
                    format!("an agent in status {} cannot join a coalition", agent.status),
                );
            }
            Some(_) => {}
        }
    }
    errors.into_result()?;
    Ok(found)
}
