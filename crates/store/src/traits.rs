use crate::model::{
    AuditEvent, Cursor, NewAuditEvent, NewRefreshToken, NewUser, Page, PoolStats, RefreshToken, UserChange, UserQuery,
};
use crate::{MigrationStatus, StoreError};
use async_trait::async_trait;
use freeagentics_core::User;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, new: NewUser) -> Result<User, StoreError>;
    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError>;
    /// Case-insensitive match on username or email.
    async fn user_by_login(&self, username_or_email: &str) -> Result<User, StoreError>;
    async fn list_users(&self, query: &UserQuery) -> Result<Page<User>, StoreError>;
    /// Applies `change` if the row is still at `expected_version` (when given).
    async fn update_user(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        change: UserChange,
    ) -> Result<User, StoreError>;
    async fn count_admins(&self) -> Result<i64, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_refresh_token(&self, new: NewRefreshToken) -> Result<RefreshToken, StoreError>;
    async fn refresh_token_by_hash(&self, token_hash: &str) -> Result<RefreshToken, StoreError>;
    /// Marks the token rotated if, and only if, nobody rotated or revoked it first. `false` means
    /// the token was already used: the caller treats that as reuse.
    async fn mark_rotated(&self, id: Uuid, at: OffsetDateTime) -> Result<bool, StoreError>;
    async fn revoke_family(&self, family_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;
    async fn revoke_user_tokens(&self, user_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;
    async fn delete_expired_refresh_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    async fn list_audit_events(
        &self,
        kind: Option<&str>,
        user_id: Option<Uuid>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page<AuditEvent>, StoreError>;
}

/// Everything the service persists, behind one object chosen at start-up.
#[async_trait]
pub trait Store: UserStore + TokenStore + AuditStore + std::fmt::Debug {
    fn backend(&self) -> Backend;
    /// `SELECT 1` through the pool: readiness uses it.
    async fn ping(&self) -> Result<(), StoreError>;
    fn pool_stats(&self) -> PoolStats;
    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError>;
    /// Reverts exactly the newest applied migration; `None` when nothing is applied.
    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError>;
    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError>;
    async fn close(&self);
}
