//! `/api/v1/agents`: create, list, read, change, status transitions, delete. Reads are open to
//! every role with `view_agents` (a shared research workspace); changes need `modify_agent` and
//! ownership, or admin (the route table and [`may_change`]).
use crate::agents::{AgentView, ModelDefinition, PreloadedAgent, events, model_key};
use crate::auth::AuthUser;
use crate::extract::{PageParams, ValidJson, ValidPath, ValidQuery, Validate};
use crate::routes::views::{check_if_match, versioned};
use crate::{ApiError, AppState, idempotency};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use freeagentics_core::agent::{PARAMETERS_MAX_BYTES, validate_capabilities, validate_name};
use freeagentics_core::validation::check_filter_text;
use freeagentics_core::{AgentStatus, Permission, ValidationErrors, new_id};
use freeagentics_inference::AgentState;
use freeagentics_store::{Agent, AgentChange, AgentQuery, AgentWithState, NewAgent, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct AgentId {
    pub id: Uuid,
}

/// A GMN spec: the text form, or the JSON form as an object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum GmnSource {
    Text(String),
    #[schema(value_type = Object)]
    Json(serde_json::Map<String, serde_json::Value>),
}

impl GmnSource {
    pub fn into_text(self) -> String {
        match self {
            GmnSource::Text(text) => text,
            GmnSource::Json(object) => serde_json::Value::Object(object).to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `basic-explorer` (default), `goal-optimizer`, `pattern-predictor` (`GET /api/v1/templates`),
    /// or `gmn_agent` with `gmn_spec`.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false)]
    pub template: Option<String>,
    /// Matched against objectives' required capabilities in coalition formation.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The template's parameters; unnamed ones take their defaults.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// A generative model in GMN (text or JSON form, at most 100 KB): the agent's model instead of
    /// a template's.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false)]
    pub gmn_spec: Option<GmnSource>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl Validate for CreateAgentRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("name", validate_name(&self.name));
        validate_capabilities(&self.capabilities, &mut errors);
        if !self.parameters.is_object() {
            errors.add("parameters", "must be an object");
        } else if self.parameters.to_string().len() > PARAMETERS_MAX_BYTES {
            errors.add("parameters", format!("must be at most {PARAMETERS_MAX_BYTES} bytes of JSON"));
        }
        errors.into_result()
    }
}

impl CreateAgentRequest {
    fn definition(&self) -> ModelDefinition {
        let gmn_spec = self.gmn_spec.clone().map(GmnSource::into_text);
        let default = if gmn_spec.is_some() { crate::agents::models::GMN_TEMPLATE } else { "basic-explorer" };
        ModelDefinition {
            template: self.template.clone().unwrap_or_else(|| default.to_owned()),
            parameters: self.parameters.clone(),
            gmn_spec,
        }
    }
}

/// At least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateAgentRequest {
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false)]
    pub capabilities: Option<Vec<String>>,
}

impl Validate for UpdateAgentRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.name.is_none() && self.capabilities.is_none() {
            errors.add("body", "give `name` and/or `capabilities`");
        }
        if let Some(name) = &self.name {
            errors.check("name", validate_name(name));
        }
        if let Some(capabilities) = &self.capabilities {
            validate_capabilities(capabilities, &mut errors);
        }
        errors.into_result()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(value_type = crate::agents::view::AgentStatusName)]
    pub status: AgentStatus,
}

impl Validate for StatusRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAgentsQuery {
    #[param(value_type = Option<crate::agents::view::AgentStatusName>)]
    pub status: Option<AgentStatus>,
    #[param(min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub template: Option<String>,
    pub owner_id: Option<Uuid>,
    /// Agents whose name starts with this (case-sensitive).
    #[param(min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub name_prefix: Option<String>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

impl Validate for ListAgentsQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        PageParams { limit: self.limit, cursor: self.cursor.clone() }.check(&mut errors);
        if let Some(template) = &self.template {
            errors.check("template", check_filter_text(template, 100));
        }
        if let Some(prefix) = &self.name_prefix {
            errors.check("name_prefix", check_filter_text(prefix, 100));
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The agent with its `ETag` (and `status`).
fn with_etag(status: StatusCode, agent: &AgentView) -> Response {
    versioned(status, agent, agent.version, None)
}

/// Owners change their own agents; admins (`admin_system`) anyone's.
pub(crate) fn may_change(user: &AuthUser, agent: &Agent) -> Result<(), ApiError> {
    if user.owns_or_admin(agent.owner_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only the agent's owner or an admin may change it".to_owned()))
    }
}

/// The agent as it is now, from the store (for changes, which must start from the truth).
pub(crate) async fn current(state: &AppState, id: Uuid) -> Result<Agent, ApiError> {
    Ok(state.store.agent_by_id(id).await?)
}

/// The agent and its engine state, from the database (stepping, beliefs).
pub(crate) async fn current_with_state(state: &AppState, id: Uuid) -> Result<AgentWithState, ApiError> {
    Ok(state.store.agent_with_state(id).await?)
}

/// The agent as clients see it, through the two-level cache.
pub(crate) async fn view(state: &AppState, id: Uuid) -> Result<Arc<AgentView>, ApiError> {
    let loaded = state
        .caches
        .agents
        .get_or_load(&id.to_string(), || async move { state.store.agent_by_id(id).await.map(|a| AgentView::from(&a)) })
        .await;
    loaded.map_err(ApiError::from)
}

/// After a change: this replica's and every other replica's copy is dropped.
pub(crate) async fn changed(state: &AppState, id: Uuid) {
    state.caches.agents.invalidate(&id.to_string()).await;
}

/// Create an agent (status `pending`). Its model — the template with its parameters, or the GMN
/// spec — is built and checked first: an invalid one is a 422 naming the field.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = CreateAgentRequest,
    responses(
        (status = 201, description = "Created", body = AgentView,
            headers(("Location" = String, description = "The new agent"), ("ETag" = String, description = "Its version"))),
    ))]
pub async fn create_agent(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CreateAgentRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_of(&headers)?;
    idempotency::once(&state, user.user.id, key, "create_agent", &body, || async {
        let agent = create(&state, &user, &body).await?;
        let location = format!("/api/v1/agents/{}", agent.id);
        Ok(versioned(StatusCode::CREATED, &AgentView::from(&agent), agent.version, Some(&location)))
    })
    .await
}

/// Builds and checks the model, then writes the agent (and its `agent.created` event).
pub(crate) async fn create(state: &AppState, user: &AuthUser, body: &CreateAgentRequest) -> Result<Agent, ApiError> {
    let definition = body.definition();
    let model_key = model_key(&definition);
    state.engine.compiled(&model_key, &definition).await?;
    let id = new_id();
    // the agent's random stream (stochastic action selection) is seeded from its id
    let seed = u64::from_le_bytes(id.as_bytes()[8..16].try_into().unwrap_or_default());
    let agent_state = serde_json::to_string(&AgentState::new(seed))
        .map_err(|e| ApiError::internal("encoding a new agent's state", e))?;
    let new = NewAgent {
        id,
        owner_id: user.user.id,
        name: body.name.clone(),
        template: definition.template,
        capabilities: body.capabilities.clone(),
        parameters: definition.parameters,
        gmn_spec: definition.gmn_spec,
        model_key,
        state: agent_state,
    };
    Ok(state.store.create_agent(new, &events::of(events::CREATED)).await?)
}

/// List agents, newest first, filtered by status, template, owner and name prefix.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(ListAgentsQuery),
    responses((status = 200, description = "A page of agents", body = AgentPage)))]
pub async fn list_agents(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ListAgentsQuery>,
) -> Result<Json<AgentPage>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor.clone() };
    let found = state
        .store
        .list_agents(&AgentQuery {
            status: query.status,
            template: query.template,
            owner_id: query.owner_id,
            name_prefix: query.name_prefix,
            limit: page.limit(),
            after: page.cursor(),
        })
        .await?;
    Ok(Json(AgentPage {
        items: found.items.iter().map(AgentView::from).collect(),
        next_cursor: found.next.map(|c| c.encode()),
    }))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The agent", body = AgentView, headers(("ETag" = String, description = "Its version")))))]
pub async fn get_agent(
    State(state): State<AppState>,
    preloaded: Option<Extension<PreloadedAgent>>,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
) -> Result<Response, ApiError> {
    let agent = match preloaded {
        Some(Extension(PreloadedAgent { id: read, view })) if read == id => view.ok_or(ApiError::NotFound)?,
        _ => view(&state, id).await?,
    };
    Ok(with_etag(StatusCode::OK, &agent))
}

/// Rename an agent or change its capabilities. `If-Match` is required: a change based on a
/// version someone else already changed is refused (412), not silently merged.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    request_body = UpdateAgentRequest,
    responses(
        (status = 200, description = "Changed", body = AgentView, headers(("ETag" = String, description = "The new version"))),
        (status = 403, description = "Not the agent's owner (nor an admin)"),
    ))]
pub async fn update_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<UpdateAgentRequest>,
) -> Result<Response, ApiError> {
    let agent = current(&state, id).await?;
    may_change(&user, &agent)?;
    let expected = check_if_match(&headers, agent.version)?;
    let change = AgentChange { name: body.name, capabilities: body.capabilities, status: None };
    let updated = apply_change(&state, id, expected, change).await?;
    Ok(with_etag(StatusCode::OK, &AgentView::from(&updated)))
}

/// Writes a rename or new capabilities over `expected` (any version when `None`), then drops every
/// replica's cached copy and lets the coalitions it belongs to follow.
pub(crate) async fn apply_change(
    state: &AppState,
    id: Uuid,
    expected: Option<i64>,
    change: AgentChange,
) -> Result<Agent, ApiError> {
    let updated = state.store.update_agent(id, expected, change, &events::of(events::UPDATED)).await;
    changed(state, id).await;
    let updated = updated?;
    crate::coalitions::agent_changed(state, id).await?;
    Ok(updated)
}

/// Move an agent through its lifecycle: `pending → active ⇄ paused`, `active|paused|pending →
/// stopped`, any → `error`. Only an active agent is stepped.
#[utoipa::path(post, path = "/api/v1/agents/{id}/status", tag = "agents", params(("id" = Uuid, Path)),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "Moved", body = AgentView, headers(("ETag" = String, description = "The new version"))),
        (status = 403, description = "Not the agent's owner (nor an admin)"),
        (status = 409, description = "Not allowed from the current status (the problem names the allowed ones), or changed concurrently"),
    ))]
pub async fn set_agent_status(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
    ValidJson(body): ValidJson<StatusRequest>,
) -> Result<Response, ApiError> {
    let agent = current(&state, id).await?;
    may_change(&user, &agent)?;
    agent
        .status
        .transition(body.status)
        .map_err(|e| ApiError::Conflict { detail: e.to_string(), errors: Vec::new() })?;
    let change = AgentChange { status: Some(body.status), ..AgentChange::default() };
    let updated = state.store.update_agent(id, Some(agent.version), change, &events::of(events::STATUS_CHANGED)).await;
    changed(&state, id).await;
    match updated {
        Ok(updated) => {
            crate::coalitions::agent_changed(&state, id).await?;
            Ok(with_etag(StatusCode::OK, &AgentView::from(&updated)))
        }
        Err(StoreError::VersionMismatch) => Err(ApiError::Conflict {
            detail: "the agent changed while its status was being changed; read it again and retry".to_owned(),
            errors: Vec::new(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// Delete an agent and its history. Its owner may, and roles with `delete_agent`. It first leaves
/// its coalitions by the membership rules: a new leader is chosen where it led, and a coalition it
/// was the last member of is dissolved.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Neither the owner nor allowed to delete agents")))]
pub async fn delete_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
) -> Result<StatusCode, ApiError> {
    remove(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the agent if `user` may: its owner, or a role with `delete_agent`.
pub(crate) async fn remove(state: &AppState, user: &AuthUser, id: Uuid) -> Result<(), ApiError> {
    let agent = current(state, id).await?;
    if agent.owner_id != user.user.id && !user.can(Permission::DeleteAgent) {
        return Err(ApiError::Forbidden(
            "only the agent's owner or a role with `delete_agent` may delete it".to_owned(),
        ));
    }
    let deleted = state.store.delete_agent(id, &events::of(events::DELETED), &crate::coalitions::events::of).await;
    changed(state, id).await;
    let left = deleted?;
    crate::coalitions::changed(state, &left).await;
    Ok(())
}
