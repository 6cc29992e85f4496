//! The request principal: who a valid access token speaks for, as far as authorization needs to
//! know (never the password hash). Read through the two-level cache, so the common authenticated
//! request needs no database round trip; every change to an account goes through [`update_user`],
//! which invalidates it on every replica.
use crate::{ApiError, AppState};
use freeagentics_core::{Role, User};
use freeagentics_store::UserChange;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    /// Access tokens issued before this instant are refused.
    #[serde(with = "time::serde::rfc3339")]
    pub tokens_valid_after: OffsetDateTime,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&User> for Principal {
    fn from(user: &User) -> Self {
        Principal {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role,
            is_active: user.is_active,
            tokens_valid_after: user.tokens_valid_after,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// The principal of `id` (`None` when the account does not exist), from the cache when it can.
pub async fn principal(state: &AppState, id: Uuid) -> Result<Option<Arc<Principal>>, ApiError> {
    let loaded = state
        .caches
        .principals
        .get_or_load(
            &id.to_string(),
            || async move { state.store.user_by_id(id).await.map(|user| Principal::from(&user)) },
        )
        .await;
    match loaded.map_err(ApiError::from) {
        Ok(principal) => Ok(Some(principal)),
        Err(ApiError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Changes an account and drops its cached principal everywhere (role, activation, password and
/// `tokens_valid_after` changes must take effect on every replica within the cache's bound).
pub async fn update_user(
    state: &AppState,
    id: Uuid,
    expected_version: Option<i64>,
    change: UserChange,
) -> Result<User, ApiError> {
    let updated = state.store.update_user(id, expected_version, change).await;
    // also after a failure: the row may have changed even if the answer was lost
    state.caches.principals.invalidate(&id.to_string()).await;
    Ok(updated?)
}
