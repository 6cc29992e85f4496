//! Agents as the web frontend reads them: camelCase, `type` for the template, and one of the three
//! statuses it draws (`active`, `idle`, `error`).
use crate::agents::AgentView;
use crate::{ApiError, AppState};
use freeagentics_core::AgentStatus;
use freeagentics_store::{Agent, AgentQuery, AgentWithState, Page, StoreError};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendAgent {
    pub id: Uuid,
    pub name: String,
    /// The template.
    #[serde(rename = "type")]
    pub kind: String,
    /// `active`, `idle` (pending, paused, stopped) or `error`.
    pub status: &'static str,
    /// Our status, for a frontend that wants more than the three it draws.
    pub lifecycle: AgentStatus,
    pub description: String,
    pub step_count: i64,
    pub last_free_energy: Option<f64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_active_at: Option<OffsetDateTime>,
}

/// The frontend's status for ours.
pub fn status_of(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Active => "active",
        AgentStatus::Error => "error",
        AgentStatus::Pending | AgentStatus::Paused | AgentStatus::Stopped => "idle",
    }
}

impl From<&AgentView> for FrontendAgent {
    fn from(agent: &AgentView) -> Self {
        let steps = match agent.step_count {
            1 => "1 step".to_owned(),
            n => format!("{n} steps"),
        };
        FrontendAgent {
            id: agent.id,
            name: agent.name.clone(),
            kind: agent.template.clone(),
            status: status_of(agent.status),
            lifecycle: agent.status,
            description: format!("{} agent, {}, {steps}", agent.template, agent.status.as_str()),
            step_count: agent.step_count,
            last_free_energy: agent.last_free_energy,
            created_at: agent.created_at,
            last_active_at: agent.last_active_at,
        }
    }
}

/// Most agents of one user the frontend's list and knowledge graph show (the newest, oldest first).
pub const MAX_SHOWN: usize = 500;
const PAGE: u32 = 100;

/// `owner`'s agents, oldest first (the frontend appends new ones at the end), at most [`MAX_SHOWN`].
pub async fn owned_by(state: &AppState, owner: Uuid) -> Result<Vec<Agent>, ApiError> {
    oldest_first(owner, |query| async move { state.store.list_agents(&query).await }).await
}

/// [`owned_by`] with each agent's engine state (the knowledge graph shows what each believes).
pub async fn owned_with_state(state: &AppState, owner: Uuid) -> Result<Vec<AgentWithState>, ApiError> {
    oldest_first(owner, |query| async move { state.store.list_agents_with_state(&query).await }).await
}

async fn oldest_first<T, F, Fut>(owner: Uuid, list: F) -> Result<Vec<T>, ApiError>
where
    F: Fn(AgentQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut agents = Vec::new();
    let mut after = None;
    loop {
        let page = list(AgentQuery { owner_id: Some(owner), limit: PAGE, after, ..AgentQuery::default() }).await?;
        agents.extend(page.items);
        after = page.next;
        if after.is_none() || agents.len() >= MAX_SHOWN {
            break;
        }
    }
    agents.truncate(MAX_SHOWN);
    agents.reverse();
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontend_draws_three_statuses() {
        assert_eq!(status_of(AgentStatus::Active), "active");
        assert_eq!(status_of(AgentStatus::Error), "error");
        for idle in [AgentStatus::Pending, AgentStatus::Paused, AgentStatus::Stopped] {
            assert_eq!(status_of(idle), "idle");
        }
    }
}
