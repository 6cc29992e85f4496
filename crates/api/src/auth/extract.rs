//! `AuthUser` (any signed-in, active user) and `Authorized<P>` (plus permission `P` from the role
//! table in `freeagentics_core::role`). Handlers state their requirement in their signature; there
//! are no ad-hoc role checks in handler bodies.
use crate::{ApiError, AppState};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use freeagentics_core::{Permission, User};
use std::marker::PhantomData;

use super::AccessClaims;

const INVALID: &str = "missing, invalid or expired access token";

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
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

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let unauthorized = || ApiError::Unauthorized(INVALID.to_owned());
        let claims = bearer_claims(parts, state).ok_or_else(unauthorized)?;
        if state.denylist.is_revoked(&claims.jti.to_string()).await {
            return Err(unauthorized());
        }
        let user = match state.store.user_by_id(claims.sub).await {
            Ok(user) => user,
            Err(freeagentics_store::StoreError::NotFound) => return Err(unauthorized()),
            Err(other) => return Err(other.into()),
        };
        // deactivation, logout-all, password and role changes end every older token at once
        // compared in whole milliseconds, the precision of `iat`
        let issued_ms = (claims.iat * 1000.0).round() as i128;
        let valid_after_ms = user.tokens_valid_after.unix_timestamp_nanos() / 1_000_000;
        if !user.is_active || issued_ms < valid_after_ms {
            return Err(unauthorized());
        }
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        let auth = AuthUser { user, claims };
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// A permission a route requires, as a type (see [`perm`]).
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// Marker types, one per permission of the policy table.
pub mod perm {
    use super::RequiredPermission;
    use freeagentics_core::Permission;

    macro_rules! markers {
        ($($name:ident => $permission:ident),* $(,)?) => {
            $(
                #[derive(Debug, Clone, Copy)]
                pub struct $name;
                impl RequiredPermission for $name {
                    const PERMISSION: Permission = Permission::$permission;
                }
            )*
        };
    }

    markers!(
        CreateAgent => CreateAgent,
        DeleteAgent => DeleteAgent,
        ViewAgents => ViewAgents,
        ModifyAgent => ModifyAgent,
        CreateCoalition => CreateCoalition,
        ViewMetrics => ViewMetrics,
        AdminSystem => AdminSystem,
    );
}

/// A signed-in user whose role grants `P`; 401 without a valid token, 403 without the permission.
#[derive(Debug, Clone)]
pub struct Authorized<P: RequiredPermission>(pub AuthUser, PhantomData<P>);

impl<P: RequiredPermission> std::ops::Deref for Authorized<P> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<P: RequiredPermission> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.can(P::PERMISSION) {
            return Err(ApiError::Forbidden(format!("this action needs the `{}` permission", P::PERMISSION.as_str())));
        }
        Ok(Authorized(user, PhantomData))
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
