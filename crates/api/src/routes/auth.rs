//! `/api/v1/auth`: registration, login, refresh, logout, the current user, password change.
use crate::audit::{self, AuditKind};
use crate::auth::{Account, AuthUser, LoginThrottle, TokenPair, issue_pair, revoke_sessions, update_user};
use crate::extract::{ClientIp, ValidJson, Validate};
use crate::routes::views::UserView;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use freeagentics_core::account::{validate_new_account, validate_password};
use freeagentics_core::{Sensitive, User, ValidationErrors};
use freeagentics_store::{NewUser, StoreError, UserChange};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–50 characters of letters, digits, `_`, `.`, `-`; unique regardless of case.
    #[schema(min_length = 3, max_length = 50, pattern = r"^[A-Za-z0-9_.-]{3,50}$")]
    pub username: String,
    /// Unique regardless of case (the pattern is the syntax the service checks).
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9!#$%&'*+./=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    )]
    pub email: String,
    /// 8–128 characters, not a common password.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub password: Sensitive,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        validate_new_account(&self.username, &self.email, self.password.expose()).into_result()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(min_length = 1, max_length = 254, pattern = r"^[^\u0000]*\S[^\u0000]*$")]
    pub username_or_email: String,
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub password: Sensitive,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.username_or_email.trim().is_empty() || self.username_or_email.len() > 254 {
            errors.add("username_or_email", "must be 1 to 254 characters");
        } else if self.username_or_email.contains('\0') {
            errors.add("username_or_email", "must not contain NUL characters");
        }
        if self.password.expose().is_empty() || self.password.expose().chars().count() > 128 {
            errors.add("password", "must be 1 to 128 characters");
        }
        errors.into_result()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String, min_length = 1, max_length = 512)]
    pub refresh_token: Sensitive,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.refresh_token.expose().is_empty() || self.refresh_token.expose().len() > 512 {
            errors.add("refresh_token", "must be 1 to 512 characters");
        }
        errors.into_result()
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Also revoke this session's refresh token (recommended).
    #[schema(value_type = String, nullable = false)]
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    pub refresh_token: Option<Sensitive>,
    /// End every session of the account, on every device.
    #[serde(default)]
    pub all_sessions: bool,
}

impl Validate for LogoutRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[schema(value_type = String, max_length = 128)]
    pub current_password: Sensitive,
    /// 8–128 characters, not a common password, not the current one.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub new_password: Sensitive,
}

impl Validate for PasswordChangeRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("new_password", validate_password(self.new_password.expose()));
        if self.new_password == self.current_password {
            errors.add("new_password", "must differ from the current password");
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    #[serde(flatten)]
    pub user: UserView,
    /// What this role may do (the policy table).
    pub permissions: Vec<&'static str>,
}

async fn respond(state: &AppState, user: &User, family: Option<uuid::Uuid>) -> Result<AuthResponse, ApiError> {
    Ok(AuthResponse { user: UserView::from(user), tokens: issue_pair(state, user, family).await? })
}

pub(crate) fn hash_error(error: String) -> ApiError {
    ApiError::internal("password hashing failed", anyhow::anyhow!(error))
}

/// Create an account (role: the configured default) and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; signed in", body = AuthResponse,
            headers(("Location" = String, description = "The new account"))),
        (status = 409, description = "Username or email taken"),
    ))]
pub async fn register_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let password_hash = state.hasher.hash(body.password.into_inner()).await.map_err(hash_error)?;
    let new = NewUser { username: body.username, email: body.email, password_hash, role: state.auth.default_role };
    let user = state.store.create_user(new).await?;
    metrics::counter!("freeagentics_user_registrations_total").increment(1);
    audit::record(&state, AuditKind::Register, Some(user.id), None, Some(ip.to_string()), serde_json::json!({})).await;
    let body = respond(&state, &user, None).await?;
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/users/{}", user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Sign in with username or email. Repeated failures are throttled per account and per address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Wrong credentials"),
        (status = 429, description = "Too many requests or failed attempts; see Retry-After"),
    ))]
pub async fn login_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let user = match state.store.user_by_login(&body.username_or_email).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(other.into()),
    };
    let account = user.as_ref().map_or(Account::Unknown(&body.username_or_email), |u| Account::Known(u.id));
    let throttle = LoginThrottle::new(&state.login_throttle, account, ip);
    if let Err(retry_after) = throttle.attempt(&state).await {
        metrics::counter!("freeagentics_logins_total", "outcome" => "throttled").increment(1);
        return Err(ApiError::TooManyRequests {
            detail: "too many failed sign-in attempts; retry later".to_owned(),
            retry_after: retry_after.max(std::time::Duration::from_secs(1)),
        });
    }
    let verified = state
        .hasher
        .verify(body.password.into_inner(), user.as_ref().map(|u| u.password_hash.clone()))
        .await
        .map_err(hash_error)?;
    let user = match user {
        Some(user) if verified && user.is_active => user,
        user => {
            metrics::counter!("freeagentics_logins_total", "outcome" => "failure").increment(1);
            let reason = match &user {
                None => "unknown_account",
                Some(u) if !u.is_active => "inactive_account",
                Some(_) => "wrong_password",
            };
            let detail = serde_json::json!({ "reason": reason });
            audit::record(&state, AuditKind::LoginFailure, user.map(|u| u.id), None, Some(ip.to_string()), detail)
                .await;
            return Err(ApiError::Unauthorized("invalid username, email or password".to_owned()));
        }
    };
    throttle.succeeded(&state).await;
    metrics::counter!("freeagentics_logins_total", "outcome" => "success").increment(1);
    audit::record(&state, AuditKind::LoginSuccess, Some(user.id), None, Some(ip.to_string()), serde_json::json!({}))
        .await;
    Ok(Json(respond(&state, &user, None).await?))
}

/// Exchange a refresh token for a new pair (rotation). Reusing a rotated token revokes its family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = AuthResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token"),
    ))]
pub async fn refresh_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let (user, tokens) = crate::auth::refresh(&state, body.refresh_token.expose(), Some(ip.to_string())).await?;
    Ok(Json(AuthResponse { user: UserView::from(&user), tokens }))
}

/// Sign out: this access token stops working at once; the given refresh token's session (or,
/// with `all_sessions`, every session) is revoked.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>),
    responses((status = 204, description = "Signed out")))]
pub async fn logout_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    body: Option<ValidJson<LogoutRequest>>,
) -> Result<StatusCode, ApiError> {
    let body = body.map(|ValidJson(b)| b).unwrap_or_default();
    let shared = state.denylist.revoke(&auth.claims.jti.to_string(), auth.claims.remaining()).await;
    // if the other replicas could not be told about this token, end all of the user's access
    // tokens instead: stricter than asked, never weaker
    if body.all_sessions || !shared {
        let change = UserChange { tokens_valid_after: Some(OffsetDateTime::now_utc()), ..UserChange::default() };
        update_user(&state, auth.user.id, None, change).await?;
    }
    if body.all_sessions {
        revoke_sessions(&state, auth.user.id).await?;
    } else if let Some(token) = &body.refresh_token {
        // only the caller's own session: a token of another user is silently ignored
        if let Ok(stored) = state.store.refresh_token_by_hash(&crate::auth::refresh_digest(token.expose())).await
            && stored.user_id == auth.user.id
        {
            state.store.revoke_family(stored.family_id, OffsetDateTime::now_utc()).await?;
        }
    }
    let detail = serde_json::json!({ "all_sessions": body.all_sessions });
    audit::record(&state, AuditKind::Logout, Some(auth.user.id), None, Some(ip.to_string()), detail).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user, role and permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The signed-in user", body = MeResponse)))]
pub async fn get_current_user(auth: AuthUser) -> Json<MeResponse> {
    let permissions = auth.user.role.permissions().iter().map(|p| p.as_str()).collect();
    Json(MeResponse { user: UserView::from(&*auth.user), permissions })
}

/// Change the password (needs the current one). Every other session ends; a new pair is returned.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed; new token pair", body = AuthResponse),
        (status = 403, description = "Wrong current password"),
        (status = 429, description = "Too many failed attempts; see Retry-After"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ValidJson(body): ValidJson<PasswordChangeRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    // a stolen access token must not become a free password oracle
    let throttle = LoginThrottle::new(&state.login_throttle, Account::Known(auth.user.id), ip);
    if let Err(retry_after) = throttle.attempt(&state).await {
        return Err(ApiError::TooManyRequests {
            detail: "too many failed attempts; retry later".to_owned(),
            retry_after,
        });
    }
    // the hash is never cached with the principal: read it from the store
    let current = state.store.user_by_id(auth.user.id).await?;
    let ok = state
        .hasher
        .verify(body.current_password.into_inner(), Some(current.password_hash))
        .await
        .map_err(hash_error)?;
    if !ok {
        // 403, not 401: the session is fine, and clients treat 401 as "signed out"
        return Err(ApiError::Forbidden("the current password is wrong".to_owned()));
    }
    throttle.succeeded(&state).await;
    let password_hash = state.hasher.hash(body.new_password.into_inner()).await.map_err(hash_error)?;
    let change = UserChange {
        password_hash: Some(password_hash),
        tokens_valid_after: Some(OffsetDateTime::now_utc()),
        ..UserChange::default()
    };
    let user = update_user(&state, auth.user.id, None, change).await?;
    revoke_sessions(&state, user.id).await?;
    state.denylist.revoke(&auth.claims.jti.to_string(), auth.claims.remaining()).await;
    audit::record(
        &state,
        AuditKind::PasswordChange,
        Some(user.id),
        Some(user.id),
        Some(ip.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(Json(respond(&state, &user, None).await?))
}
