//! `GET /api/v1/knowledge-graph`: the caller's agents, what each believes most, and the coalitions
//! they own with their members (`frontend::graph`).
use crate::agents::AgentView;
use crate::agents::beliefs::{self, most_likely};
use crate::auth::AuthUser;
use crate::coalitions::CoalitionView;
use crate::frontend::agent::owned_with_state;
use crate::frontend::graph::{self, Believing, Graph};
use crate::routes::agents::view;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::coalition::CoalitionStatus;
use freeagentics_store::{CoalitionQuery, StoreError};
use std::collections::HashSet;
use uuid::Uuid;

/// Most coalitions of one user the graph shows (the newest).
const MAX_COALITIONS: u32 = 100;

pub async fn get_knowledge_graph(State(state): State<AppState>, user: AuthUser) -> Result<Json<Graph>, ApiError> {
    Ok(Json(graph_of(&state, user.user.id).await?))
}

/// The graph of `owner`'s agents and coalitions, as it is now.
pub(crate) async fn graph_of(state: &AppState, owner: Uuid) -> Result<Graph, ApiError> {
    let mut believing = Vec::new();
    for agent in owned_with_state(state, owner).await? {
        let current = beliefs::current(state, &agent).await?;
        believing.push(Believing { most_likely: most_likely(&current.beliefs), agent: AgentView::from(&agent.agent) });
    }
    let query = CoalitionQuery {
        status: None,
        owner_id: Some(owner),
        member_agent_id: None,
        limit: MAX_COALITIONS,
        after: None,
    };
    let mut coalitions = Vec::new();
    for coalition in state.store.list_coalitions(&query).await?.items {
        if coalition.status == CoalitionStatus::Dissolved {
            continue;
        }
        match state.store.coalition_by_id(coalition.id).await {
            Ok(detail) => coalitions.push(CoalitionView::from(&detail)),
            // dissolved and removed since the list was read
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let mine: HashSet<Uuid> = believing.iter().map(|b| b.agent.id).collect();
    let mut others = Vec::new();
    let mut seen = HashSet::new();
    for member in coalitions.iter().flat_map(|c| &c.members) {
        if mine.contains(&member.agent_id) || !seen.insert(member.agent_id) {
            continue;
        }
        match view(state, member.agent_id).await {
            Ok(agent) => others.push(AgentView::clone(&agent)),
            Err(ApiError::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(graph::build(&believing, &coalitions, &others))
}
