//! `/api/agents`: the frontend's agent list, create, rename and delete — our agents API underneath
//! (same rules, events and caches), in the frontend's shapes. The list is the caller's own agents.
use crate::agents::AgentView;
use crate::auth::AuthUser;
use crate::extract::{ValidJson, ValidPath, Validate};
use crate::frontend::FrontendAgent;
use crate::frontend::agent::owned_by;
use crate::routes::agents::{AgentId, CreateAgentRequest, apply_change, create, current, may_change, remove};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use freeagentics_core::ValidationErrors;
use freeagentics_core::agent::validate_name;
use freeagentics_core::prompt::{agent_name, template_for, validate_prompt};
use freeagentics_core::validation::check_filter_text;
use freeagentics_store::{Agent, AgentChange};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct AgentList {
    pub agents: Vec<FrontendAgent>,
}

/// `{description}` (the frontend's create box), or `{name, template}`. Fields the frontend may add
/// later are ignored rather than refused: these routes follow its shapes.
#[derive(Debug, Deserialize)]
pub struct CreateRequest {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
}

impl Validate for CreateRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.description.is_none() && self.name.is_none() {
            errors.add("body", "give `description` or `name`");
        }
        if let Some(description) = &self.description {
            errors.check("description", validate_prompt(description));
        }
        if let Some(name) = &self.name {
            errors.check("name", validate_name(name));
        }
        if let Some(template) = &self.template {
            errors.check("template", check_filter_text(template, 100));
        }
        errors.into_result()
    }
}

#[derive(Debug, Deserialize)]
pub struct RenameRequest {
    pub name: String,
}

impl Validate for RenameRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("name", validate_name(&self.name));
        errors.into_result()
    }
}

/// An agent as the frontend reads it.
pub(super) fn shown(agent: &Agent) -> FrontendAgent {
    FrontendAgent::from(&AgentView::from(agent))
}

pub async fn list_agents(State(state): State<AppState>, user: AuthUser) -> Result<Json<AgentList>, ApiError> {
    let agents = owned_by(&state, user.user.id).await?;
    Ok(Json(AgentList { agents: agents.iter().map(shown).collect() }))
}

/// The agent a description asks for: named from its first words, the template chosen by keyword
/// (`freeagentics_core::prompt`), unless the request names them.
pub async fn create_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<CreateRequest>,
) -> Result<(StatusCode, Json<FrontendAgent>), ApiError> {
    let text = body.description.clone().or_else(|| body.name.clone()).unwrap_or_default();
    let agent = create_for(&state, &user, &text, body.name, body.template).await?;
    Ok((StatusCode::CREATED, Json(shown(&agent))))
}

/// Creates the agent `text` asks for through the agents API's own create, with the template's
/// default parameters; `name` and `template` override what the text would choose.
pub(super) async fn create_for(
    state: &AppState,
    user: &AuthUser,
    text: &str,
    name: Option<String>,
    template: Option<String>,
) -> Result<Agent, ApiError> {
    let request = CreateAgentRequest {
        name: name.unwrap_or_else(|| agent_name(text)),
        template: Some(template.unwrap_or_else(|| template_for(text).to_owned())),
        capabilities: Vec::new(),
        parameters: serde_json::Value::Object(serde_json::Map::new()),
        gmn_spec: None,
    };
    create(state, user, &request).await
}

/// A rename without `If-Match`, as the frontend sends it: the name is written over whatever
/// version is current (the frontend changes nothing else).
pub async fn rename_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
    ValidJson(body): ValidJson<RenameRequest>,
) -> Result<Json<FrontendAgent>, ApiError> {
    let agent = current(&state, id).await?;
    may_change(&user, &agent)?;
    let change = AgentChange { name: Some(body.name), ..AgentChange::default() };
    let updated = apply_change(&state, id, None, change).await?;
    Ok(Json(shown(&updated)))
}

pub async fn delete_agent(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(AgentId { id }): ValidPath<AgentId>,
) -> Result<StatusCode, ApiError> {
    remove(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
