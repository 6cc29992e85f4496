//! The development account behind `GET /api/v1/dev-config`: created on first use, always an active
//! `researcher` (never an admin), with a random password nobody knows — it signs in only through
//! dev-config. Concurrent first calls (one page load makes 9–13 in parallel) create it once.
use super::Frontend;
use crate::{ApiError, AppState};
use freeagentics_core::{Role, User};
use freeagentics_store::{NewUser, StoreError};

pub const DEV_USERNAME: &str = "dev-frontend";
pub const DEV_EMAIL: &str = "dev-frontend@localhost";

/// The development account, created if it does not exist yet.
pub async fn dev_user(state: &AppState, frontend: &Frontend) -> Result<User, ApiError> {
    let id = frontend.dev_user.get_or_try_init(|| async { find_or_create(state).await.map(|user| user.id) }).await?;
    // read on every call: an admin may have deactivated or changed the account since
    usable(state.store.user_by_id(*id).await?)
}

async fn find_or_create(state: &AppState) -> Result<User, ApiError> {
    match state.store.user_by_login(DEV_USERNAME).await {
        Ok(user) => return usable(user),
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    let password: [u8; 32] = rand::random();
    let password: String = password.iter().map(|b| format!("{b:02x}")).collect();
    let password_hash = state.hasher.hash(password).await.map_err(crate::routes::auth::hash_error)?;
    let new = NewUser {
        username: DEV_USERNAME.to_owned(),
        email: DEV_EMAIL.to_owned(),
        password_hash,
        role: Role::Researcher,
    };
    match state.store.create_user(new).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, username = DEV_USERNAME, "created the development account");
            Ok(user)
        }
        // another replica created it first
        Err(StoreError::Conflict { .. }) => usable(state.store.user_by_login(DEV_USERNAME).await?),
        Err(other) => Err(other.into()),
    }
}

/// Tokens are only handed out for the account as it was made: a changed one is refused, never
/// used with whatever role it has now.
fn usable(user: User) -> Result<User, ApiError> {
    if user.username.eq_ignore_ascii_case(DEV_USERNAME) && user.role == Role::Researcher && user.is_active {
        Ok(user)
    } else {
        Err(ApiError::Conflict {
            detail: format!(
                "the development account `{DEV_USERNAME}` is not an active researcher (or its email belongs to \
                 another account); make it one again, or delete it to have it recreated"
            ),
            errors: Vec::new(),
        })
    }
}
