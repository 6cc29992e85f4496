//! Coalitions as the API sees them: the views clients (and the event stream) get, the outbox
//! events of each change, and the formation glue. Handlers are in `routes/coalitions.rs`,
//! `routes/coalition_members.rs`, `routes/coalition_objectives.rs` and `routes/coalition_formation.rs`;
//! the rules are in `freeagentics_core::coalition`, applied under lock by the store.
pub mod events;
pub mod formation;
pub mod view;

pub use view::{CoalitionSummary, CoalitionView};

use crate::{ApiError, AppState};
use std::sync::Arc;
use uuid::Uuid;

/// The coalition as clients see it, through the two-level cache.
pub async fn view(state: &AppState, id: Uuid) -> Result<Arc<CoalitionView>, ApiError> {
    let loaded = state
        .caches
        .coalitions
        .get_or_load(&id.to_string(), || async move {
            state.store.coalition_by_id(id).await.map(|c| CoalitionView::from(&c))
        })
        .await;
    loaded.map_err(ApiError::from)
}

/// After a change (or a failed attempt, which may have raced one): every replica's copy is dropped.
pub async fn changed(state: &AppState, ids: &[Uuid]) {
    for id in ids {
        state.caches.coalitions.invalidate(&id.to_string()).await;
    }
}

/// After an agent's status or capabilities changed: the coalitions it is in show both (members'
/// `agent_status`, the performance score), so their cached copies go too. An agent is in at most
/// `COALITION_MAX_PER_AGENT` live coalitions; dissolved ones it was in are history and show the
/// agent as it is now as well, hence every page.
pub async fn agent_changed(state: &AppState, agent_id: Uuid) -> Result<(), ApiError> {
    let mut query = freeagentics_store::CoalitionQuery {
        member_agent_id: Some(agent_id),
        limit: crate::extract::MAX_LIMIT,
        ..Default::default()
    };
    loop {
        let page = state.store.list_coalitions(&query).await?;
        let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
        changed(state, &ids).await;
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(()),
        }
    }
}
