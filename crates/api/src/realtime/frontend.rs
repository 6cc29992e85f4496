//! The web frontend's dialect of the socket (`GET /api/v1/ws/dev`, docs/FRONTEND.md): no
//! subscriptions — the development account's own events arrive translated into the messages the
//! frontend reacts to, each a `{type, data, timestamp}` envelope — and its client messages are
//! answered, never refused.
use super::hub::Frame;
use crate::agents::AgentView;
use crate::coalitions::CoalitionView;
use crate::frontend::FrontendAgent;
use crate::frontend::graph::{agent_node, coalition_node, member_edges};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

/// The outbox kind of a message to a conversation (`POST /api/process-prompt`), on topic
/// `conversation:<id>`.
pub const CONVERSATION_MESSAGE: &str = "conversation.message";

/// One development socket's view: whose events it shows and its conversation.
#[derive(Debug)]
pub struct FrontendDialect {
    owner: Uuid,
    conversation_id: Uuid,
}

/// What the frontend sends. Anything else (its simulation controls, which `/main` sends) is
/// acknowledged by being ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Ping {},
    PromptSubmitted {
        #[serde(default)]
        prompt_id: Option<Value>,
        #[serde(default)]
        conversation_id: Option<Value>,
    },
    #[serde(other)]
    Other,
}

/// An event frame's payload, read back from its rendered text.
fn payload<T: DeserializeOwned>(frame: &Frame) -> Option<T> {
    #[derive(Deserialize)]
    struct Event<T> {
        data: T,
    }
    serde_json::from_str::<Event<T>>(frame.text.as_str()).ok().map(|event| event.data)
}

/// Now, as the frontend's messages stamp it.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn envelope(kind: &str, data: Value) -> String {
    json!({ "type": kind, "data": data, "timestamp": now_rfc3339() }).to_string()
}

impl FrontendDialect {
    pub fn new(owner: Uuid) -> Self {
        FrontendDialect { owner, conversation_id: Uuid::now_v7() }
    }

    /// The first message on a new socket.
    pub fn greeting(&self) -> String {
        envelope(
            "connection_established",
            json!({ "conversation_id": self.conversation_id, "client_id": Uuid::now_v7(), "mode": "dev" }),
        )
    }

    /// The answer to a client message, if it has one. Text that is not a JSON object with a
    /// `type` gets an `error` message; the socket stays open.
    pub fn answer(&self, text: &str) -> Option<String> {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Ping {}) => Some(envelope("pong", json!({}))),
            Ok(ClientMessage::PromptSubmitted { prompt_id, conversation_id }) => Some(envelope(
                "prompt_acknowledged",
                json!({ "prompt_id": prompt_id, "conversation_id": conversation_id.unwrap_or_else(|| json!(self.conversation_id)) }),
            )),
            Ok(ClientMessage::Other) => None,
            Err(_) => Some(envelope("error", json!({ "message": "messages are JSON objects with a `type`" }))),
        }
    }

    /// The frontend's messages for one of our events: none unless it concerns the development
    /// account's agents, coalitions or conversations.
    pub fn translate(&self, frame: &Frame) -> Vec<String> {
        let kind = frame.kind.as_str();
        if let Some(change) = kind.strip_prefix("agent.") {
            let Some(agent) = payload::<AgentView>(frame) else { return Vec::new() };
            if agent.owner_id != self.owner {
                return Vec::new();
            }
            return self.agent_messages(change, &agent);
        }
        if kind.starts_with("coalition.") {
            let Some(coalition) = payload::<CoalitionView>(frame) else { return Vec::new() };
            if coalition.owner_id != self.owner {
                return Vec::new();
            }
            let operation = if kind == "coalition.dissolved" { "remove" } else { "update" };
            let edges: Vec<_> = member_edges(&coalition).collect();
            return vec![envelope(
                "knowledge_graph_update",
                json!({ "operation": operation, "nodes": [coalition_node(&coalition)], "edges": edges }),
            )];
        }
        if kind == CONVERSATION_MESSAGE {
            let Some(body) = payload::<Value>(frame) else { return Vec::new() };
            if body.get("owner_id").and_then(Value::as_str) != Some(self.owner.to_string().as_str()) {
                return Vec::new();
            }
            let mut message = body.get("message").cloned().unwrap_or_else(|| json!({}));
            if let Some(object) = message.as_object_mut() {
                object.insert("conversationId".to_owned(), body.get("conversation_id").cloned().unwrap_or(Value::Null));
            }
            return vec![envelope("message", message)];
        }
        Vec::new()
    }

    fn agent_messages(&self, change: &str, agent: &AgentView) -> Vec<String> {
        let shown = serde_json::to_value(FrontendAgent::from(agent)).unwrap_or_default();
        let node = serde_json::to_value(agent_node(agent, true)).unwrap_or_default();
        match change {
            "created" => vec![
                envelope("agent_created", shown),
                envelope("knowledge_graph_update", json!({ "operation": "add", "nodes": [node], "edges": [] })),
            ],
            "deleted" => vec![
                envelope("agent_deleted", json!({ "agentId": agent.id })),
                envelope(
                    "knowledge_graph_update",
                    json!({ "operation": "remove", "nodes": [{ "id": agent.id, "type": "agent" }], "edges": [] }),
                ),
            ],
            _ => {
                let mut update = shown;
                if let Some(object) = update.as_object_mut() {
                    object.insert("agentId".to_owned(), json!(agent.id));
                }
                vec![
                    envelope("agent_update", update),
                    envelope("knowledge_graph_update", json!({ "operation": "update", "nodes": [node], "edges": [] })),
                ]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freeagentics_shared_state::BusEvent;

    fn frame(kind: &str, data: Value) -> Frame {
        Frame::render(&BusEvent {
            id: 1,
            topic: "agent:x".to_owned(),
            kind: kind.to_owned(),
            data: data.to_string(),
            ts: "2026-12-02T00:00:00Z".to_owned(),
        })
    }

    fn agent(owner: Uuid) -> Value {
        json!({
            "id": Uuid::now_v7(), "owner_id": owner, "name": "Scout", "template": "basic-explorer",
            "status": "active", "capabilities": [], "parameters": {}, "gmn_spec": null, "step_count": 2,
            "mean_step_ms": 1.0, "last_free_energy": 1.5, "last_active_at": null, "version": 3,
            "created_at": "2026-12-02T00:00:00Z", "updated_at": "2026-12-02T00:00:00Z"
        })
    }

    fn types(messages: &[String]) -> Vec<String> {
        messages
            .iter()
            .map(|m| serde_json::from_str::<Value>(m).unwrap()["type"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_owners_agent_events_become_the_frontends_messages() {
        let owner = Uuid::now_v7();
        let dialect = FrontendDialect::new(owner);
        let created = dialect.translate(&frame("agent.created", agent(owner)));
        assert_eq!(types(&created), ["agent_created", "knowledge_graph_update"]);
        let shown: Value = serde_json::from_str(&created[0]).unwrap();
        assert_eq!(shown["data"]["name"], "Scout");
        assert_eq!(shown["data"]["type"], "basic-explorer");
        assert_eq!(shown["data"]["status"], "active");
        assert!(shown["timestamp"].is_string());
        let stepped = dialect.translate(&frame("agent.stepped", agent(owner)));
        assert_eq!(types(&stepped), ["agent_update", "knowledge_graph_update"]);
        let update: Value = serde_json::from_str(&stepped[0]).unwrap();
        assert_eq!(update["data"]["agentId"], update["data"]["id"]);
        let deleted = dialect.translate(&frame("agent.deleted", agent(owner)));
        assert_eq!(types(&deleted), ["agent_deleted", "knowledge_graph_update"]);
        assert!(dialect.translate(&frame("agent.created", agent(Uuid::now_v7()))).is_empty(), "someone else's");
        assert!(dialect.translate(&frame("agent.created", json!({"broken": true}))).is_empty());
    }

    #[test]
    fn conversation_messages_reach_only_their_owner() {
        let owner = Uuid::now_v7();
        let dialect = FrontendDialect::new(owner);
        let payload = |to: Uuid| {
            json!({ "owner_id": to, "conversation_id": "c-1",
                    "message": { "id": "m", "role": "system", "content": "hi", "isStreaming": false } })
        };
        let mine = dialect.translate(&frame(CONVERSATION_MESSAGE, payload(owner)));
        let message: Value = serde_json::from_str(&mine[0]).unwrap();
        assert_eq!((message["type"].as_str(), message["data"]["role"].as_str()), (Some("message"), Some("system")));
        assert_eq!(message["data"]["conversationId"], "c-1");
        assert!(dialect.translate(&frame(CONVERSATION_MESSAGE, payload(Uuid::now_v7()))).is_empty());
    }

    #[test]
    fn client_messages_are_answered_or_ignored_never_refused() {
        let dialect = FrontendDialect::new(Uuid::now_v7());
        let greeting: Value = serde_json::from_str(&dialect.greeting()).unwrap();
        assert_eq!(greeting["type"], "connection_established");
        assert!(greeting["data"]["conversation_id"].is_string());
        let pong: Value = serde_json::from_str(&dialect.answer(r#"{"type":"ping"}"#).unwrap()).unwrap();
        assert_eq!(pong["type"], "pong");
        let ack = dialect
            .answer(r#"{"type":"prompt_submitted","prompt_id":"p1","prompt":"go","conversation_id":"c1"}"#)
            .unwrap();
        let ack: Value = serde_json::from_str(&ack).unwrap();
        assert_eq!(
            (ack["type"].as_str(), ack["data"]["prompt_id"].as_str()),
            (Some("prompt_acknowledged"), Some("p1"))
        );
        for ignored in [r#"{"type":"simulation_step","data":{},"timestamp":1}"#, r#"{"type":"subscribe","topics":[]}"#]
        {
            assert_eq!(dialect.answer(ignored), None, "{ignored}");
        }
        let error: Value = serde_json::from_str(&dialect.answer("not json").unwrap()).unwrap();
        assert_eq!(error["type"], "error");
        assert!(error["data"]["message"].is_string());
    }
}
