//! Row shapes shared by both backends. sqlx decodes the same Rust types from PostgreSQL's native
//! types and from SQLite's TEXT/BLOB encodings, so one mapping serves both.
use crate::StoreError;
use crate::model::{AuditEvent, RefreshToken};
use freeagentics_core::{Role, User};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    password_hash: String,
    role: String,
    is_active: bool,
    tokens_valid_after: OffsetDateTime,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// The columns of [`JoinedUserRow`], selected from `users u`.
macro_rules! joined_user_columns {
    () => {
        "u.id as u_id, u.username as u_username, u.email as u_email, \
        u.password_hash as u_password_hash, u.role as u_role, u.is_active as u_is_active, \
        u.tokens_valid_after as u_tokens_valid_after, u.version as u_version, u.created_at as u_created_at, \
        u.updated_at as u_updated_at"
    };
}
pub(crate) use joined_user_columns;

/// A user's columns as a query that joins them to another table's names them (`u_` + column).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JoinedUserRow {
    #[sqlx(rename = "u_id")]
    id: Uuid,
    #[sqlx(rename = "u_username")]
    username: String,
    #[sqlx(rename = "u_email")]
    email: String,
    #[sqlx(rename = "u_password_hash")]
    password_hash: String,
    #[sqlx(rename = "u_role")]
    role: String,
    #[sqlx(rename = "u_is_active")]
    is_active: bool,
    #[sqlx(rename = "u_tokens_valid_after")]
    tokens_valid_after: OffsetDateTime,
    #[sqlx(rename = "u_version")]
    version: i64,
    #[sqlx(rename = "u_created_at")]
    created_at: OffsetDateTime,
    #[sqlx(rename = "u_updated_at")]
    updated_at: OffsetDateTime,
}

impl From<JoinedUserRow> for UserRow {
    fn from(row: JoinedUserRow) -> Self {
        let JoinedUserRow {
            id,
            username,
            email,
            password_hash,
            role,
            is_active,
            tokens_valid_after,
            version,
            created_at,
            updated_at,
        } = row;
        UserRow {
            id,
            username,
            email,
            password_hash,
            role,
            is_active,
            tokens_valid_after,
            version,
            created_at,
            updated_at,
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let role: Role = row.role.parse().map_err(StoreError::other)?;
        Ok(User {
            id: row.id,
            username: row.username,
            email: row.email,
            password_hash: row.password_hash,
            role,
            is_active: row.is_active,
            tokens_valid_after: row.tokens_valid_after,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn users(rows: Vec<UserRow>) -> Result<Vec<User>, StoreError> {
    rows.into_iter().map(User::try_from).collect()
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl From<RefreshTokenRow> for RefreshToken {
    fn from(row: RefreshTokenRow) -> Self {
        RefreshToken {
            id: row.id,
            user_id: row.user_id,
            family_id: row.family_id,
            token_hash: row.token_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
            rotated_at: row.rotated_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: Uuid,
    kind: String,
    user_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    ip: Option<String>,
    detail: sqlx::types::Json<serde_json::Value>,
    created_at: OffsetDateTime,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            id: row.id,
            kind: row.kind,
            user_id: row.user_id,
            actor_id: row.actor_id,
            ip: row.ip,
            detail: row.detail.0,
            created_at: row.created_at,
        }
    }
}
