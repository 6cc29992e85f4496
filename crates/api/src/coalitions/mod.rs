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
