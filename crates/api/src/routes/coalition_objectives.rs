//! `/api/v1/coalitions/{id}/objectives`: add, update progress, remove. An objective added to a
//! coalition must be covered by its members' capabilities; progress 1 completes it, and an active
//! coalition whose objectives are all complete starts disbanding.
use crate::auth::AuthUser;
use crate::coalitions::view::ObjectiveView;
use crate::coalitions::{self, CoalitionView, events};
use crate::extract::{ValidJson, ValidPath, Validate};
use crate::routes::coalitions::{CoalitionId, ObjectiveRequest, answer, writable};
use crate::routes::views::versioned;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use freeagentics_core::ValidationErrors;
use freeagentics_core::coalition::OBJECTIVES_MAX;
use freeagentics_core::validation::check_unit_interval;
use freeagentics_store::ObjectiveChange;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct ObjectivePath {
    pub id: Uuid,
    pub objective_id: Uuid,
}

/// At least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateObjectiveRequest {
    /// 0–1; 1 completes the objective.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, minimum = 0.0, maximum = 1.0)]
    pub progress: Option<f64>,
    /// 0–1.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, minimum = 0.0, maximum = 1.0)]
    pub priority: Option<f64>,
}

impl Validate for UpdateObjectiveRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.progress.is_none() && self.priority.is_none() {
            errors.add("body", "give `progress` and/or `priority`");
        }
        if let Some(progress) = self.progress {
            errors.check("progress", check_unit_interval(progress));
        }
        if let Some(priority) = self.priority {
            errors.check("priority", check_unit_interval(priority));
        }
        errors.into_result()
    }
}

/// Add an objective. Its required capabilities must be held by the members between them: a 422
/// names the missing ones. Answers the new objective; the coalition's new version is its `ETag`
/// (an active coalition given an already complete objective may have moved on to `disbanding`).
#[utoipa::path(post, path = "/api/v1/coalitions/{id}/objectives", tag = "coalitions", params(("id" = Uuid, Path)),
    request_body = ObjectiveRequest,
    responses(
        (status = 201, description = "Added", body = ObjectiveView,
            headers(("Location" = String, description = "The new objective"), ("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "The coalition is dissolved, or already has the most objectives it may"),
    ))]
pub async fn add_coalition_objective(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
    ValidJson(body): ValidJson<ObjectiveRequest>,
) -> Result<Response, ApiError> {
    let detail = writable(&state, &user, id).await?;
    if detail.objectives.len() >= OBJECTIVES_MAX {
        return Err(ApiError::Conflict {
            detail: format!("a coalition has at most {OBJECTIVES_MAX} objectives; remove one first"),
            errors: Vec::new(),
        });
    }
    let objective = body.into_new();
    let objective_id = objective.id;
    let added = state.store.add_objective(id, objective, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    let added = added?;
    let created = added.objectives.iter().find(|o| o.id == objective_id).ok_or_else(|| {
        ApiError::internal("reading back an added objective", anyhow::anyhow!("not in the coalition"))
    })?;
    let location = format!("/api/v1/coalitions/{id}/objectives/{objective_id}");
    Ok(versioned(StatusCode::CREATED, &ObjectiveView::from(created), added.coalition.version, Some(&location)))
}

/// Update an objective's progress or priority.
#[utoipa::path(patch, path = "/api/v1/coalitions/{id}/objectives/{objective_id}", tag = "coalitions",
    params(("id" = Uuid, Path), ("objective_id" = Uuid, Path)),
    request_body = UpdateObjectiveRequest,
    responses(
        (status = 200, description = "Updated", body = CoalitionView, headers(("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "The coalition is dissolved"),
    ))]
pub async fn update_coalition_objective(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(ObjectivePath { id, objective_id }): ValidPath<ObjectivePath>,
    ValidJson(body): ValidJson<UpdateObjectiveRequest>,
) -> Result<Response, ApiError> {
    writable(&state, &user, id).await?;
    let change = ObjectiveChange { progress: body.progress, priority: body.priority };
    let updated = state.store.update_objective(id, objective_id, change, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &updated?))
}

/// Remove an objective; answers the coalition as it is afterwards.
#[utoipa::path(delete, path = "/api/v1/coalitions/{id}/objectives/{objective_id}", tag = "coalitions",
    params(("id" = Uuid, Path), ("objective_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Removed", body = CoalitionView, headers(("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "The coalition is dissolved"),
    ))]
pub async fn remove_coalition_objective(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(ObjectivePath { id, objective_id }): ValidPath<ObjectivePath>,
) -> Result<Response, ApiError> {
    writable(&state, &user, id).await?;
    let removed = state.store.remove_objective(id, objective_id, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &removed?))
}
