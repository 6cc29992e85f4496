//! Sessions: an access JWT plus an opaque refresh token. Refresh tokens are random 256-bit values
//! stored only as SHA-256 digests, rotated on every use; a family is one login's chain of
//! rotations, and presenting an already-rotated token revokes the whole family (RFC 9700 §4.14.2:
//! one of the two holders is a thief, and we cannot tell which).
use crate::audit::{self, AuditKind};
use crate::auth::AccessClaims;
use crate::{ApiError, AppState};
use base64::Engine as _;
use freeagentics_core::User;
use freeagentics_store::{NewRefreshToken, StoreError};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Opaque; send it to `/api/v1/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// The stored form of a refresh token.
pub fn refresh_digest(token: &str) -> String {
    crate::digest::sha256_hex(&[token.as_bytes()])
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new access token for `user` (and its claims), valid for `ACCESS_TOKEN_TTL_SECONDS`.
pub fn access_token(state: &AppState, user: &User) -> Result<(String, AccessClaims), ApiError> {
    state
        .keys
        .issue(user.id, user.role.as_str(), state.auth.access_ttl)
        .map_err(|e| ApiError::internal("signing an access token", e))
}

/// A new access token and a refresh token in `family` (a new family for a new login).
pub async fn issue_pair(state: &AppState, user: &User, family: Option<Uuid>) -> Result<TokenPair, ApiError> {
    let settings = &state.auth;
    let (access_token, _) = access_token(state, user)?;
    let refresh_token = random_token();
    let refresh_ttl = time::Duration::try_from(settings.refresh_ttl).unwrap_or(time::Duration::days(7));
    state
        .store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: family.unwrap_or_else(Uuid::now_v7),
            token_hash: refresh_digest(&refresh_token),
            expires_at: OffsetDateTime::now_utc() + refresh_ttl,
        })
        .await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: settings.access_ttl.as_secs(),
        refresh_expires_in: settings.refresh_ttl.as_secs(),
    })
}

fn count(outcome: &'static str) {
    metrics::counter!("freeagentics_token_refreshes_total", "outcome" => outcome).increment(1);
}

/// Exchanges a refresh token for a new pair. The user's role and status are read again from the
/// store, so a demotion or deactivation takes effect at the next refresh at the latest.
pub async fn refresh(state: &AppState, presented: &str, ip: Option<String>) -> Result<(User, TokenPair), ApiError> {
    let invalid = || ApiError::Unauthorized("invalid, expired or revoked refresh token".to_owned());
    let token = match state.store.refresh_token_by_hash(&refresh_digest(presented)).await {
        Ok(token) => token,
        Err(StoreError::NotFound) => {
            count("invalid");
            return Err(invalid());
        }
        Err(other) => return Err(other.into()),
    };
    let now = OffsetDateTime::now_utc();
    if token.revoked_at.is_some() || token.expires_at <= now {
        count("invalid");
        return Err(invalid());
    }
    // the conditional update is the arbiter: of two concurrent uses, exactly one wins
    if token.rotated_at.is_some() || !state.store.mark_rotated(token.id, now).await? {
        let revoked = state.store.revoke_family(token.family_id, now).await?;
        count("reuse_detected");
        audit::record(
            state,
            AuditKind::RefreshReuseDetected,
            Some(token.user_id),
            None,
            ip,
            serde_json::json!({ "family_id": token.family_id, "revoked_tokens": revoked }),
        )
        .await;
        return Err(invalid());
    }
    let user = state.store.user_by_id(token.user_id).await?;
    if !user.is_active {
        count("invalid");
        return Err(invalid());
    }
    let pair = issue_pair(state, &user, Some(token.family_id)).await?;
    // A revocation (reuse elsewhere, password change, deactivation) may have committed between
    // the rotation and the insert above, missing the new token: look again, and revoke it too.
    if state.store.refresh_token_by_hash(&refresh_digest(presented)).await?.revoked_at.is_some() {
        state.store.revoke_family(token.family_id, OffsetDateTime::now_utc()).await?;
        count("invalid");
        return Err(invalid());
    }
    count("success");
    Ok((user, pair))
}

/// Revokes every refresh token of a user. Callers also move `tokens_valid_after` to now in the
/// same change, which ends the access tokens.
pub async fn revoke_sessions(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    state.store.revoke_user_tokens(user_id, now).await?;
    Ok(())
}
