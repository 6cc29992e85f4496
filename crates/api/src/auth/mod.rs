//! Authentication: access tokens (JWT), refresh-token sessions, password hashing, login
//! throttling and the extractors that enforce the role → permission table on every route.
mod extract;
mod password;
mod principal;
mod sessions;
mod throttle;
mod tokens;

pub use extract::{AuthUser, bearer, bearer_claims};
pub use password::PasswordHasher;
pub use principal::{Principal, principal, update_user};
pub use sessions::{TokenPair, access_token, issue_pair, refresh, refresh_digest, revoke_sessions};
pub use throttle::{Account, LoginThrottle, ThrottleSettings};
pub use tokens::{ACCESS, AccessClaims, JwtKeys, KeyError};

use std::time::Duration;

/// Token lifetimes and issuance settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Role given at registration; clients can never choose one.
    pub default_role: freeagentics_core::Role,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            default_role: freeagentics_core::Role::Observer,
        }
    }
}
