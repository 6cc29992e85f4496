//! SQLite, the zero-setup embedded store. Writes go through a one-connection pool (WAL allows one
//! writer; queuing in the pool beats SQLITE_BUSY), reads through a small read-only pool.
use crate::migrations;
use crate::model::PoolStats;
use crate::traits::{Backend, Store};
use crate::{MigrationStatus, StoreError};
use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    read: SqlitePool,
    max: u32,
}

impl SqliteStore {
    pub(crate) fn new(write: SqlitePool, read: SqlitePool, max: u32) -> Self {
        Self { write, read, max }
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// SQLite names no constraint; its message does: "UNIQUE constraint failed: users.email".
    fn error(error: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(error, |db| {
            db.message()
                .rsplit_once(": ")
                .map(|(_, columns)| columns.split(',').next().unwrap_or(columns).trim().to_owned())
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.read).await.map(drop).map_err(Self::error)
    }

    fn pool_stats(&self) -> PoolStats {
        let size = self.write.size() + self.read.size();
        let idle = u32::try_from(self.write.num_idle() + self.read.num_idle()).unwrap_or(u32::MAX).min(size);
        PoolStats { size, idle, in_use: size - idle, max: self.max }
    }

    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError> {
        migrations::run(&MIGRATOR, &self.write).await
    }

    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError> {
        migrations::revert(&MIGRATOR, &self.write).await
    }

    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        migrations::status(&MIGRATOR, &self.write).await
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

crate::queries::impl_store_traits!(SqliteStore, crate::sqlite::sql);

mod sql {
    pub const INSERT_USER: &str = "insert into users (id, username, email, password_hash, role, is_active, \
        tokens_valid_after, version, created_at, updated_at) \
        values (?1, ?2, ?3, ?4, ?5, 1, ?6, 1, ?6, ?6) returning *";
    pub const USER_BY_ID: &str = "select * from users where id = ?1";
    // username and email are COLLATE NOCASE columns: `=` compares case-insensitively
    pub const USER_BY_LOGIN: &str = "select * from users where username = ?1 or email = ?1 limit 1";
    pub const LIST_USERS: &str = "select * from users \
        where (?1 is null or role = ?1) and (?2 is null or is_active = ?2) \
        and (?3 is null or id < ?3) order by id desc limit ?4";
    pub const UPDATE_USER: &str = "update users set role = coalesce(?2, role), \
        is_active = coalesce(?3, is_active), password_hash = coalesce(?4, password_hash), \
        tokens_valid_after = coalesce(?5, tokens_valid_after), version = version + 1, updated_at = ?6 \
        where id = ?1 and (?7 is null or version = ?7) returning *";
    pub const COUNT_ADMINS: &str = "select count(*) from users where role = 'admin' and is_active = 1";
    pub const INSERT_REFRESH_TOKEN: &str = "insert into refresh_tokens \
        (id, user_id, family_id, token_hash, created_at, expires_at) values (?1, ?2, ?3, ?4, ?5, ?6) returning *";
    pub const REFRESH_TOKEN_BY_HASH: &str = "select * from refresh_tokens where token_hash = ?1";
    pub const MARK_ROTATED: &str =
        "update refresh_tokens set rotated_at = ?2 where id = ?1 and rotated_at is null and revoked_at is null";
    pub const REVOKE_FAMILY: &str =
        "update refresh_tokens set revoked_at = ?2 where family_id = ?1 and revoked_at is null";
    pub const REVOKE_USER_TOKENS: &str =
        "update refresh_tokens set revoked_at = ?2 where user_id = ?1 and revoked_at is null";
    pub const DELETE_EXPIRED_REFRESH_TOKENS: &str = "delete from refresh_tokens where expires_at < ?1";
    pub const INSERT_AUDIT_EVENT: &str = "insert into audit_events \
        (id, kind, user_id, actor_id, ip, detail, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) returning *";
    pub const LIST_AUDIT_EVENTS: &str = "select * from audit_events \
        where (?1 is null or kind = ?1) and (?2 is null or user_id = ?2) \
        and (?3 is null or id < ?3) order by id desc limit ?4";
}
