//! `AuthUser`: the signed-in, active user of a request. Who may call an operation is declared with
//! its route (`router.rs`) and enforced by the stack (`middleware::admission`) before the handler
//! runs; handlers take `AuthUser` to know who is calling (object-level checks such as ownership).
use crate::{ApiError, AppState};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use freeagentics_core::Permission;

use super::AccessClaims;

const INVALID: &str = "missing, invalid or expired access token";

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: std::sync::Arc<super::Principal>,
    pub claims: AccessClaims,
}

impl AuthUser {
    pub fn can(&self, permission: Permission) -> bool {
        self.user.role.has(permission)
    }

    /// Owners may write their own objects; admins (`admin_system`) may write anyone's.
    pub fn owns_or_admin(&self, owner: uuid::Uuid) -> bool {
        self.user.id == owner || self.can(Permission::AdminSystem)
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    /// The user admission left in the request; on an operation whose policy is public, the
    /// handler's own authentication (an undocumented 401 then shows up in the contract check).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthUser>() {
            Some(user) => Ok(user.clone()),
            None => Self::authenticate(parts, state).await,
        }
    }
}

impl AuthUser {
    /// Verifies the bearer token, the denylist and the account (exists, active, token issued after
    /// `tokens_valid_after`), and leaves the user in the request's extensions.
    pub async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = bearer_claims(parts, state).ok_or_else(Self::unauthorized)?;
        let auth = Self::from_claims(state, claims).await?;
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }

    /// The user of verified claims, if the token is still good: not revoked, the account exists
    /// and is active, and the token was issued after `tokens_valid_after`. Also how a WebSocket
    /// re-checks the token it was opened with.
    pub async fn from_claims(state: &AppState, claims: AccessClaims) -> Result<Self, ApiError> {
        Self::check_not_revoked(state, &claims).await?;
        let Some(user) = super::principal(state, claims.sub).await? else { return Err(Self::unauthorized()) };
        Self::admit(user, claims)
    }

    /// The 401 of every way a token can fail, alike so that none tells an attacker which.
    pub(crate) fn unauthorized() -> ApiError {
        ApiError::Unauthorized(INVALID.to_owned())
    }

    /// Refuses a token on the denylist (logout, password change).
    pub(crate) async fn check_not_revoked(state: &AppState, claims: &AccessClaims) -> Result<(), ApiError> {
        if state.denylist.is_revoked(&claims.jti.to_string()).await {
            return Err(Self::unauthorized());
        }
        Ok(())
    }

    /// The user of `claims` if the account is active and the token was issued after
    /// `tokens_valid_after`: deactivation, logout-all, password and role changes end every older
    /// token at once.
    pub(crate) fn admit(user: std::sync::Arc<super::Principal>, claims: AccessClaims) -> Result<Self, ApiError> {
        // compared in whole milliseconds, the precision of `iat`
        let issued_ms = (claims.iat * 1000.0).round() as i128;
        let valid_after_ms = user.tokens_valid_after.unix_timestamp_nanos() / 1_000_000;
        if !user.is_active || issued_ms < valid_after_ms {
            return Err(Self::unauthorized());
        }
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(AuthUser { user, claims })
    }
}

/// The claims of the request's bearer token if its signature and registered claims verify —
/// without the store and denylist checks, so enough to choose a rate-limit budget, never enough to
/// authorize. Verified once per request: the result is kept in the request's extensions.
pub fn bearer_claims(parts: &mut Parts, state: &AppState) -> Option<AccessClaims> {
    if let Some(Verified(claims)) = parts.extensions.get::<Verified>() {
        return claims.clone();
    }
    let claims = bearer(parts).and_then(|token| state.keys.verify(token));
    parts.extensions.insert(Verified(claims.clone()));
    claims
}

/// Outcome of verifying the bearer token, cached per request (extensions cannot come from clients).
#[derive(Clone)]
struct Verified(Option<AccessClaims>);
