//! `/api/v1/coalitions`: create, list, read, change, status transitions, dissolve. Reads are open to
//! every role with `view_agents`, like agents; changes need `create_coalition` and ownership, or
//! admin ([`may_change`]). Members and objectives are in `coalition_members.rs` and
//! `coalition_objectives.rs`, formation in `coalition_formation.rs`.
use crate::auth::AuthUser;
use crate::coalitions::{self, CoalitionSummary, CoalitionView, events};
use crate::extract::{PageParams, ValidJson, ValidPath, ValidQuery, Validate};
use crate::routes::views::{check_if_match, versioned};
use crate::{ApiError, AppState, idempotency};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use freeagentics_core::agent::validate_name;
use freeagentics_core::coalition::{
    CoalitionStatus, DEFAULT_MAX_SIZE, OBJECTIVES_MAX, Objective, validate_description, validate_max_size,
    validate_objective,
};
use freeagentics_core::{ValidationErrors, new_id};
use freeagentics_store::{CoalitionChange, CoalitionDetail, CoalitionQuery, NewCoalition, NewObjective, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct CoalitionId {
    pub id: Uuid,
}

/// An objective as a request gives it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveRequest {
    #[schema(min_length = 1, max_length = 1000)]
    pub description: String,
    /// Capabilities the members must hold between them (at most 32, each 1–100 characters).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub required_capabilities: Vec<String>,
    /// 0–1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub priority: f64,
    /// 0–1 (default 0); 1 completes it.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub progress: f64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<time::OffsetDateTime>,
}

impl ObjectiveRequest {
    pub fn check(&self, prefix: &str, errors: &mut ValidationErrors) {
        validate_objective(&self.objective(), prefix, errors);
    }

    fn objective(&self) -> Objective {
        Objective {
            description: self.description.clone(),
            required_capabilities: self.required_capabilities.clone(),
            priority: self.priority,
            progress: self.progress,
            deadline: self.deadline,
        }
    }

    pub fn into_new(self) -> NewObjective {
        NewObjective {
            id: new_id(),
            description: self.description,
            required_capabilities: self.required_capabilities,
            priority: self.priority,
            progress: self.progress,
            deadline: self.deadline,
        }
    }
}

impl Validate for ObjectiveRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.check("", &mut errors);
        errors.into_result()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCoalitionRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// Members at most (1–100, default 10).
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub max_size: Option<i64>,
    /// The coalition's goals (at most 50). Unlike objectives added later, these are not checked
    /// against members' capabilities: a new coalition has no members yet.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub objectives: Vec<ObjectiveRequest>,
}

impl Validate for CreateCoalitionRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("name", validate_name(&self.name));
        errors.check("description", validate_description(&self.description));
        if let Some(max_size) = self.max_size {
            errors.check("max_size", validate_max_size(max_size));
        }
        if self.objectives.len() > OBJECTIVES_MAX {
            errors.add("objectives", format!("must list at most {OBJECTIVES_MAX} objectives"));
        }
        for (i, objective) in self.objectives.iter().enumerate() {
            objective.check(&format!("objectives[{i}]"), &mut errors);
        }
        errors.into_result()
    }
}

/// At least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateCoalitionRequest {
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, max_length = 2000)]
    pub description: Option<String>,
    /// Not below the current number of members.
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub max_size: Option<i64>,
}

impl Validate for UpdateCoalitionRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.name.is_none() && self.description.is_none() && self.max_size.is_none() {
            errors.add("body", "give `name`, `description` and/or `max_size`");
        }
        if let Some(name) = &self.name {
            errors.check("name", validate_name(name));
        }
        if let Some(description) = &self.description {
            errors.check("description", validate_description(description));
        }
        if let Some(max_size) = self.max_size {
            errors.check("max_size", validate_max_size(max_size));
        }
        errors.into_result()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoalitionStatusRequest {
    #[schema(value_type = crate::coalitions::view::CoalitionStatusName)]
    pub status: CoalitionStatus,
}

impl Validate for CoalitionStatusRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCoalitionsQuery {
    #[param(value_type = Option<crate::coalitions::view::CoalitionStatusName>)]
    pub status: Option<CoalitionStatus>,
    pub owner_id: Option<Uuid>,
    /// Coalitions this agent is a member of (or was, for dissolved ones).
    pub agent_id: Option<Uuid>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

impl Validate for ListCoalitionsQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        PageParams { limit: self.limit, cursor: self.cursor.clone() }.check(&mut errors);
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoalitionPage {
    pub items: Vec<CoalitionSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The coalition with its `ETag`.
pub(crate) fn answer(status: StatusCode, detail: &CoalitionDetail) -> Response {
    let view = CoalitionView::from(detail);
    versioned(status, &view, view.version, None)
}

/// Owners change their own coalitions; admins anyone's.
pub(crate) fn may_change(user: &AuthUser, owner_id: Uuid) -> Result<(), ApiError> {
    if user.owns_or_admin(owner_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only the coalition's owner or an admin may change it".to_owned()))
    }
}

/// The coalition as it is now, from the store, checked writable by `user`.
pub(crate) async fn writable(state: &AppState, user: &AuthUser, id: Uuid) -> Result<CoalitionDetail, ApiError> {
    let detail = state.store.coalition_by_id(id).await?;
    may_change(user, detail.coalition.owner_id)?;
    Ok(detail)
}

/// Create a coalition (status `forming`, no members yet).
#[utoipa::path(post, path = "/api/v1/coalitions", tag = "coalitions", request_body = CreateCoalitionRequest,
    responses(
        (status = 201, description = "Created", body = CoalitionView,
            headers(("Location" = String, description = "The new coalition"), ("ETag" = String, description = "Its version"))),
    ))]
pub async fn create_coalition(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CreateCoalitionRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(&headers)?;
    idempotency::once(&state, user.user.id, key, "create_coalition", &body, || create(&state, &user, &body)).await
}

async fn create(state: &AppState, user: &AuthUser, body: &CreateCoalitionRequest) -> Result<Response, ApiError> {
    let new = NewCoalition {
        id: new_id(),
        owner_id: user.user.id,
        name: body.name.clone(),
        description: body.description.clone(),
        max_size: body.max_size.unwrap_or(DEFAULT_MAX_SIZE as i64),
        objectives: body.objectives.iter().cloned().map(ObjectiveRequest::into_new).collect(),
    };
    let detail = state.store.create_coalition(new, &events::of).await?;
    let view = CoalitionView::from(&detail);
    let location = format!("/api/v1/coalitions/{}", view.id);
    Ok(versioned(StatusCode::CREATED, &view, view.version, Some(&location)))
}

/// List coalitions, newest first, filtered by status, owner and member agent.
#[utoipa::path(get, path = "/api/v1/coalitions", tag = "coalitions", params(ListCoalitionsQuery),
    responses((status = 200, description = "A page of coalitions", body = CoalitionPage)))]
pub async fn list_coalitions(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ListCoalitionsQuery>,
) -> Result<Json<CoalitionPage>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor.clone() };
    let found = state
        .store
        .list_coalitions(&CoalitionQuery {
            status: query.status,
            owner_id: query.owner_id,
            member_agent_id: query.agent_id,
            limit: page.limit(),
            after: page.cursor(),
        })
        .await?;
    Ok(Json(CoalitionPage {
        items: found.items.iter().map(CoalitionSummary::from).collect(),
        next_cursor: found.next.map(|c| c.encode()),
    }))
}

/// One coalition with its members, objectives and scores.
#[utoipa::path(get, path = "/api/v1/coalitions/{id}", tag = "coalitions", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The coalition", body = CoalitionView, headers(("ETag" = String, description = "Its version")))))]
pub async fn get_coalition(
    State(state): State<AppState>,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
) -> Result<Response, ApiError> {
    let view = coalitions::view(&state, id).await?;
    Ok(versioned(StatusCode::OK, &*view, view.version, None))
}

/// Rename a coalition, change its description or its size limit. `If-Match` is required.
#[utoipa::path(patch, path = "/api/v1/coalitions/{id}", tag = "coalitions", params(("id" = Uuid, Path)),
    request_body = UpdateCoalitionRequest,
    responses(
        (status = 200, description = "Changed", body = CoalitionView, headers(("ETag" = String, description = "The new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "Dissolved, or `max_size` below the current members"),
    ))]
pub async fn update_coalition(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<UpdateCoalitionRequest>,
) -> Result<Response, ApiError> {
    let detail = writable(&state, &user, id).await?;
    let expected = check_if_match(&headers, detail.coalition.version)?;
    let change =
        CoalitionChange { name: body.name, description: body.description, max_size: body.max_size, status: None };
    let updated = state.store.update_coalition(id, expected, change, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &updated?))
}

/// Move a coalition through its lifecycle: `forming → active` (needs a member) `→ disbanding →
/// dissolved`; `dissolved` from any status. Completing every objective moves an active coalition
/// to `disbanding` by itself.
#[utoipa::path(post, path = "/api/v1/coalitions/{id}/status", tag = "coalitions", params(("id" = Uuid, Path)),
    request_body = CoalitionStatusRequest,
    responses(
        (status = 200, description = "Moved", body = CoalitionView, headers(("ETag" = String, description = "The new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "Not allowed from the current status (the problem names the allowed ones)"),
    ))]
pub async fn set_coalition_status(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
    ValidJson(body): ValidJson<CoalitionStatusRequest>,
) -> Result<Response, ApiError> {
    writable(&state, &user, id).await?;
    let change = CoalitionChange { status: Some(body.status), ..CoalitionChange::default() };
    let updated = state.store.update_coalition(id, None, change, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &updated?))
}

/// Dissolve a coalition. It is kept, with its members and objectives, as history
/// (`dissolved_at`); its members no longer count toward their agents' coalition limit. Dissolving a
/// dissolved coalition changes nothing.
#[utoipa::path(delete, path = "/api/v1/coalitions/{id}", tag = "coalitions", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Dissolved"), (status = 403, description = "Not the coalition's owner (nor an admin)")))]
pub async fn dissolve_coalition(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
) -> Result<StatusCode, ApiError> {
    let detail = writable(&state, &user, id).await?;
    if detail.coalition.status == CoalitionStatus::Dissolved {
        return Ok(StatusCode::NO_CONTENT);
    }
    let change = CoalitionChange { status: Some(CoalitionStatus::Dissolved), ..CoalitionChange::default() };
    let dissolved = state.store.update_coalition(id, None, change, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    match dissolved {
        // dissolved concurrently: the outcome the caller asked for
        Ok(_) | Err(StoreError::Refused(freeagentics_store::CoalitionRefusal::Dissolved)) => Ok(StatusCode::NO_CONTENT),
        Err(other) => Err(other.into()),
    }
}
