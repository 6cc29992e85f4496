//! `GET /api/v1/dev-config`: the frontend's zero-setup sign-in. Answers an ordinary access token of
//! the development account (a `researcher`, created on first use), so every later request of the
//! frontend is authenticated like any other client's.
use super::frontend;
use crate::auth::access_token;
use crate::frontend::dev_user::dev_user;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct DevConfig {
    mode: &'static str,
    features: Features,
    endpoints: Endpoints,
    auth: DevAuth,
}

#[derive(Debug, Serialize)]
struct Features {
    /// Every route but this one and the metrics footer needs the bearer token below.
    auth_required: bool,
    websocket: bool,
    knowledge_graph: bool,
    /// No language model is configured: prompts create agents deterministically.
    llm: bool,
    /// The `/main` page's simulation is not served.
    simulation: bool,
}

#[derive(Debug, Serialize)]
struct Endpoints {
    api: &'static str,
    agents: &'static str,
    websocket: &'static str,
    metrics: &'static str,
    settings: &'static str,
    knowledge_graph: &'static str,
    process_prompt: &'static str,
    docs: &'static str,
}

#[derive(Serialize)]
struct DevAuth {
    token: String,
    #[serde(rename = "type")]
    kind: &'static str,
    expires_in: u64,
    user: DevUser,
}

impl std::fmt::Debug for DevAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAuth").field("user", &self.user).finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
struct DevUser {
    id: Uuid,
    username: String,
    role: &'static str,
}

pub async fn get_dev_config(State(state): State<AppState>) -> Result<Json<DevConfig>, ApiError> {
    let user = dev_user(&state, frontend(&state)?).await?;
    let (token, _) = access_token(&state, &user)?;
    Ok(Json(DevConfig {
        mode: "dev",
        features: Features {
            auth_required: true,
            websocket: true,
            knowledge_graph: true,
            llm: false,
            simulation: false,
        },
        endpoints: Endpoints {
            api: "/api/v1",
            agents: "/api/agents",
            websocket: "/api/v1/ws/dev",
            metrics: "/api/v1/metrics",
            settings: "/api/v1/settings",
            knowledge_graph: "/api/v1/knowledge-graph",
            process_prompt: "/api/process-prompt",
            docs: crate::paths::DOCS_PATH,
        },
        auth: DevAuth {
            token,
            kind: "bearer",
            expires_in: state.auth.access_ttl.as_secs(),
            user: DevUser { id: user.id, username: user.username, role: user.role.as_str() },
        },
    }))
}
