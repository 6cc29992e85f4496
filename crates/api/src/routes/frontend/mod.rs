//! The web frontend's development routes (docs/FRONTEND.md), one file per resource. They exist only
//! with `DEV_ENDPOINTS=true` (`router::declare_frontend`) and stay out of the OpenAPI document:
//! their shapes are the frontend's, not our contract.
pub mod agents;
pub mod dev_config;
pub mod knowledge_graph;
pub mod metrics;
pub mod prompt;
pub mod settings;
pub mod socket;

use crate::frontend::Frontend;
use crate::{ApiError, AppState};

/// The development mode's state. Its routes are only registered when it exists; without it they
/// answer as if they did not.
fn frontend(state: &AppState) -> Result<&Frontend, ApiError> {
    state.frontend.as_ref().ok_or(ApiError::NotFound)
}
