//! `/api/v1/users`: account administration (permission `admin_system`).
use crate::audit::{self, AuditKind};
use crate::auth::AuthUser;
use crate::extract::{ClientIp, PageParams, ValidJson, ValidPath, ValidQuery, Validate};
use crate::routes::views::{RoleName, UserView, check_if_match, versioned};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use freeagentics_core::account::validate_new_account;
use freeagentics_core::{Role, Sensitive, User, ValidationErrors};
use freeagentics_store::{NewUser, UserChange, UserQuery};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    #[param(value_type = Option<RoleName>)]
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

impl Validate for ListUsersQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.page().validate()
    }
}

impl ListUsersQuery {
    fn page(&self) -> PageParams {
        PageParams { limit: self.limit, cursor: self.cursor.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(min_length = 3, max_length = 50, pattern = r"^[A-Za-z0-9_.-]{3,50}$")]
    pub username: String,
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9!#$%&'*+./=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    )]
    pub email: String,
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub password: Sensitive,
    #[schema(value_type = RoleName, example = "researcher")]
    pub role: Role,
}

impl Validate for CreateUserRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        validate_new_account(&self.username, &self.email, self.password.expose()).into_result()
    }
}

/// At least one of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateUserRequest {
    #[schema(value_type = RoleName, nullable = false, example = "agent_manager")]
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    pub role: Option<Role>,
    #[schema(nullable = false)]
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    pub is_active: Option<bool>,
}

impl Validate for UpdateUserRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        if self.role.is_none() && self.is_active.is_none() {
            return Err(freeagentics_core::FieldError::new("body", "give `role` and/or `is_active`").into());
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
pub struct UserId {
    id: Uuid,
}

fn with_etag(status: StatusCode, user: &User) -> Response {
    versioned(status, &UserView::from(user), user.version, None)
}

/// List accounts, newest first, filtered by role and status.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListUsersQuery),
    responses((status = 200, description = "A page of accounts", body = UserPage)))]
pub async fn list_users(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ListUsersQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let page = query.page();
    let store_query =
        UserQuery { role: query.role, is_active: query.is_active, limit: page.limit(), after: page.cursor() };
    let found = state.store.list_users(&store_query).await?;
    Ok(Json(UserPage {
        items: found.items.iter().map(UserView::from).collect(),
        next_cursor: found.next.map(|c| c.encode()),
    }))
}

/// Create an account with any role (the way to make researchers and agent managers).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView,
            headers(("Location" = String, description = "The new account"), ("ETag" = String, description = "Its version"))),
        (status = 409, description = "Username or email taken"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    admin: AuthUser,
    ClientIp(ip): ClientIp,
    ValidJson(body): ValidJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let password_hash = state
        .hasher
        .hash(body.password.into_inner())
        .await
        .map_err(|e| ApiError::internal("password hashing failed", anyhow::anyhow!(e)))?;
    let user = state
        .store
        .create_user(NewUser { username: body.username, email: body.email, password_hash, role: body.role })
        .await?;
    let detail = serde_json::json!({ "role": user.role.as_str() });
    audit::record(&state, AuditKind::UserCreated, Some(user.id), Some(admin.user.id), Some(ip.to_string()), detail)
        .await;
    let location = format!("/api/v1/users/{}", user.id);
    Ok(versioned(StatusCode::CREATED, &UserView::from(&user), user.version, Some(&location)))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The account", body = UserView, headers(("ETag" = String, description = "Its version")))))]
pub async fn get_user(
    State(state): State<AppState>,
    ValidPath(UserId { id }): ValidPath<UserId>,
) -> Result<Response, ApiError> {
    Ok(with_etag(StatusCode::OK, &state.store.user_by_id(id).await?))
}

/// Change role and/or active flag. Honours `If-Match`; ends the user's sessions. Admins cannot
/// demote or deactivate themselves (someone must remain able to administer).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Changed", body = UserView, headers(("ETag" = String, description = "The new version"))),
        (status = 409, description = "Would demote or deactivate yourself"),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    admin: AuthUser,
    ClientIp(ip): ClientIp,
    ValidPath(UserId { id }): ValidPath<UserId>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<UpdateUserRequest>,
) -> Result<Response, ApiError> {
    let current = state.store.user_by_id(id).await?;
    let expected = check_if_match(&headers, current.version)?;
    if id == admin.user.id && (body.role.is_some_and(|r| r != Role::Admin) || body.is_active == Some(false)) {
        return Err(ApiError::Conflict {
            detail: "you cannot demote or deactivate your own account".to_owned(),
            errors: Vec::new(),
        });
    }
    let role_changed = body.role.is_some_and(|r| r != current.role);
    let deactivated = body.is_active == Some(false) && current.is_active;
    let reactivated = body.is_active == Some(true) && !current.is_active;
    let ends_sessions = role_changed || deactivated;
    let change = UserChange {
        role: body.role,
        is_active: body.is_active,
        tokens_valid_after: ends_sessions.then(OffsetDateTime::now_utc),
        ..UserChange::default()
    };
    let user = crate::auth::update_user(&state, id, expected, change).await?;
    if ends_sessions {
        crate::auth::revoke_sessions(&state, id).await?;
    }
    let ip = Some(ip.to_string());
    if role_changed {
        let detail = serde_json::json!({ "from": current.role.as_str(), "to": user.role.as_str() });
        audit::record(&state, AuditKind::RoleChange, Some(id), Some(admin.user.id), ip.clone(), detail).await;
    }
    if deactivated {
        audit::record(
            &state,
            AuditKind::Deactivation,
            Some(id),
            Some(admin.user.id),
            ip.clone(),
            serde_json::json!({}),
        )
        .await;
    }
    if reactivated {
        audit::record(&state, AuditKind::Reactivation, Some(id), Some(admin.user.id), ip, serde_json::json!({})).await;
    }
    Ok(with_etag(StatusCode::OK, &user))
}

/// Deactivate an account (accounts are never hard-deleted: audit history refers to them).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deactivated"), (status = 409, description = "Would deactivate yourself")))]
pub async fn deactivate_user(
    State(state): State<AppState>,
    admin: AuthUser,
    ClientIp(ip): ClientIp,
    ValidPath(UserId { id }): ValidPath<UserId>,
) -> Result<StatusCode, ApiError> {
    if id == admin.user.id {
        return Err(ApiError::Conflict {
            detail: "you cannot deactivate your own account".to_owned(),
            errors: Vec::new(),
        });
    }
    let current = state.store.user_by_id(id).await?;
    if current.is_active {
        let change = UserChange {
            is_active: Some(false),
            tokens_valid_after: Some(OffsetDateTime::now_utc()),
            ..UserChange::default()
        };
        crate::auth::update_user(&state, id, None, change).await?;
        crate::auth::revoke_sessions(&state, id).await?;
        audit::record(
            &state,
            AuditKind::Deactivation,
            Some(id),
            Some(admin.user.id),
            Some(ip.to_string()),
            serde_json::json!({}),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}
