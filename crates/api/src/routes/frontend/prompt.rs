//! `POST /api/process-prompt`: the frontend's goal prompt. No language model is configured, so the
//! prompt becomes an agent deterministically (`freeagentics_core::prompt`: named from its first
//! words, the template chosen by keyword), and the conversation is told so in a system message,
//! delivered on the development socket through the outbox like every other event.
use super::agents::{create_for, shown};
use super::knowledge_graph::graph_of;
use crate::auth::AuthUser;
use crate::extract::{ValidJson, Validate};
use crate::frontend::FrontendAgent;
use crate::frontend::graph::Graph;
use crate::realtime::frontend::{CONVERSATION_MESSAGE, now_rfc3339};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::ValidationErrors;
use freeagentics_core::prompt::validate_prompt;
use freeagentics_store::NewEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// Conversation ids are the frontend's (`default-<ms>`) or ours (a UUID).
const CONVERSATION_ID_MAX_CHARS: usize = 100;

/// Fields the frontend sends besides these (`goalPrompt`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRequest {
    pub prompt: String,
    #[serde(default, alias = "conversation_id")]
    pub conversation_id: Option<String>,
}

impl Validate for PromptRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("prompt", validate_prompt(&self.prompt));
        if let Some(id) = &self.conversation_id
            && (id.is_empty()
                || id.chars().count() > CONVERSATION_ID_MAX_CHARS
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            errors.add(
                "conversationId",
                format!("must be 1 to {CONVERSATION_ID_MAX_CHARS} letters, digits, `-`, `_`, `.` or `:`"),
            );
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptAnswer {
    pub agents: Vec<FrontendAgent>,
    pub knowledge_graph: Graph,
    pub conversation_id: String,
}

pub async fn process_prompt(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<PromptRequest>,
) -> Result<Json<PromptAnswer>, ApiError> {
    let agent = create_for(&state, &user, &body.prompt, None, None).await?;
    let conversation_id = body.conversation_id.unwrap_or_else(|| Uuid::now_v7().to_string());
    let content = format!(
        "No language model is configured, so the prompt was turned into an agent directly: \
         \"{}\", a {} agent (chosen by keyword). Activate it and step it with observations \
         to see its beliefs.",
        agent.name, agent.template
    );
    let message = NewEvent {
        topic: format!("conversation:{conversation_id}"),
        kind: CONVERSATION_MESSAGE.to_owned(),
        payload: json!({
            "owner_id": user.user.id,
            "conversation_id": conversation_id,
            "message": {
                "id": Uuid::now_v7(),
                "role": "system",
                "content": content,
                "timestamp": now_rfc3339(),
                "isStreaming": false,
            },
        }),
    };
    // the agent exists either way: a message that cannot be written is logged, not a failed request
    if let Err(error) = state.store.insert_event(message).await {
        tracing::warn!(%error, conversation_id, "the conversation's system message was not written");
    }
    Ok(Json(PromptAnswer {
        agents: vec![shown(&agent)],
        knowledge_graph: graph_of(&state, user.user.id).await?,
        conversation_id,
    }))
}
