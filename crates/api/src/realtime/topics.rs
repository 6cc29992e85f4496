//! Topics a client may subscribe to, and who may: each like the `GET` it mirrors.
use crate::AppState;
use crate::auth::AuthUser;
use freeagentics_core::Permission;
use freeagentics_store::StoreError;
use uuid::Uuid;

/// A topic as a client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Agents,
    Agent(Uuid),
    Coalitions,
    Coalition(Uuid),
    System,
}

/// Why a subscription was refused (`error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownTopic,
    Forbidden,
    Unavailable,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownTopic => "unknown_topic",
            Refusal::Forbidden => "forbidden",
            Refusal::Unavailable => "unavailable",
        }
    }
}

impl Topic {
    pub fn parse(name: &str) -> Option<Topic> {
        match name.split_once(':') {
            None => match name {
                "agents" => Some(Topic::Agents),
                "coalitions" => Some(Topic::Coalitions),
                "system" => Some(Topic::System),
                _ => None,
            },
            Some((kind, id)) => {
                // only the canonical (lowercase, hyphenated) form, so one topic has one name
                let id = Uuid::parse_str(id).ok().filter(|parsed| parsed.hyphenated().to_string() == id)?;
                match kind {
                    "agent" => Some(Topic::Agent(id)),
                    "coalition" => Some(Topic::Coalition(id)),
                    _ => None,
                }
            }
        }
    }

    /// Whether `user` may subscribe, decided as the equivalent `GET` would be. An agent or
    /// coalition that does not exist is an unknown topic (as `GET` answers 404) — but only to those
    /// who could read it.
    pub async fn authorize(self, state: &AppState, user: &AuthUser) -> Result<(), Refusal> {
        let exists = |found: Result<(), StoreError>| match found {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(Refusal::UnknownTopic),
            Err(_) => Err(Refusal::Unavailable),
        };
        match self {
            Topic::System => Ok(()),
            Topic::Agents | Topic::Coalitions if user.can(Permission::ViewAgents) => Ok(()),
            Topic::Agent(id) if user.can(Permission::ViewAgents) => exists(state.store.agent_by_id(id).await.map(drop)),
            Topic::Coalition(id) if user.can(Permission::ViewAgents) => {
                exists(state.store.coalition_by_id(id).await.map(drop))
            }
            _ => Err(Refusal::Forbidden),
        }
    }
}

/// The collection topic that also receives events of `topic`: `agent:<id>` → `agents`, and the
/// same for any `<kind>:<id>`, so new resources need no change here.
pub fn collection_of(topic: &str) -> Option<String> {
    topic.split_once(':').map(|(kind, _)| format!("{kind}s"))
}

/// Every value of the `topic_kind` label.
pub const TOPIC_KINDS: [&str; 4] = ["agent", "coalition", "system", "other"];

/// The bounded label for `freeagentics_events_published_total{topic_kind}`.
pub fn topic_kind(topic: &str) -> &'static str {
    match topic.split_once(':').map_or(topic, |(kind, _)| kind) {
        "agent" | "agents" => "agent",
        "coalition" | "coalitions" => "coalition",
        "system" => "system",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_only_in_their_canonical_form() {
        let id = Uuid::now_v7();
        assert_eq!(Topic::parse("agents"), Some(Topic::Agents));
        assert_eq!(Topic::parse(&format!("agent:{id}")), Some(Topic::Agent(id)));
        assert_eq!(Topic::parse(&format!("coalition:{id}")), Some(Topic::Coalition(id)));
        assert_eq!(Topic::parse("system"), Some(Topic::System));
        assert_eq!(Topic::parse(&format!("agent:{}", id.simple())), None);
        assert_eq!(Topic::parse(&format!("agent:{}", id.to_string().to_uppercase())), None);
        assert_eq!(Topic::parse(&format!("user:{id}")), None);
        assert_eq!(Topic::parse("Agents"), None);
        assert_eq!(Topic::parse(""), None);
    }

    #[test]
    fn events_reach_their_collection() {
        assert_eq!(collection_of("agent:1").as_deref(), Some("agents"));
        assert_eq!(collection_of("coalition:1").as_deref(), Some("coalitions"));
        assert_eq!(collection_of("system"), None);
        assert_eq!(topic_kind("coalition:x"), "coalition");
        assert_eq!(topic_kind("weird:x"), "other");
    }
}
