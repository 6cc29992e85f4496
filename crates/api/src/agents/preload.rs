//! An authenticated read of one agent in one query. With the caches bypassed (caching off, or
//! Redis unreachable, when every replica's reads fall on the database at once) the caller's
//! account and the agent would be two round trips; admission reads both together for the
//! operations that declare `Preload::AgentInPath`, and leaves the agent for the handler.
use crate::agents::AgentView;
use crate::auth::{AuthUser, Principal, bearer_claims};
use crate::{ApiError, AppState};
use axum::http::request::Parts;
use std::sync::Arc;
use uuid::Uuid;

/// The agent admission read with the caller's account: `None` when it does not exist.
#[derive(Debug, Clone)]
pub struct PreloadedAgent {
    pub id: Uuid,
    pub view: Option<Arc<AgentView>>,
}

/// Authenticates as [`AuthUser::authenticate`] does; when both caches are bypassed, the account and
/// the agent `agent` come from one query and the agent is left in the request as [`PreloadedAgent`].
pub async fn authenticate(parts: &mut Parts, state: &AppState, agent: Uuid) -> Result<AuthUser, ApiError> {
    let caches = &state.caches;
    if !(caches.principals.bypassed() && caches.agents.bypassed()) {
        return AuthUser::authenticate(parts, state).await;
    }
    let claims = bearer_claims(parts, state).ok_or_else(AuthUser::unauthorized)?;
    AuthUser::check_not_revoked(state, &claims).await?;
    let read = state.store.user_and_agent(claims.sub, agent).await?;
    caches.principals.count_bypass();
    let Some((user, found)) = read else { return Err(AuthUser::unauthorized()) };
    caches.agents.count_bypass();
    let auth = AuthUser::admit(Arc::new(Principal::from(&user)), claims)?;
    parts.extensions.insert(auth.clone());
    parts.extensions.insert(PreloadedAgent { id: agent, view: found.map(|agent| Arc::new(AgentView::from(&agent))) });
    Ok(auth)
}
