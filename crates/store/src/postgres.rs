//! PostgreSQL, the system of record in production.
use crate::migrations;
use crate::model::PoolStats;
use crate::traits::{Backend, Store};
use crate::{MigrationStatus, StoreError};
use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    max: u32,
}

impl PgStore {
    pub(crate) fn new(pool: PgPool, max: u32) -> Self {
        Self { pool, max }
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn error(error: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(error, |db| db.constraint().map(constraint_column))
    }
}

/// Our unique indexes are named `<table>_<column>_key`; report them as `table.column`, the form
/// SQLite uses, so callers see one vocabulary.
fn constraint_column(index: &str) -> String {
    const KNOWN: [(&str, &str); 3] = [
        ("users_username_key", "users.username"),
        ("users_email_key", "users.email"),
        ("refresh_tokens_token_hash_key", "refresh_tokens.token_hash"),
    ];
    KNOWN.iter().find(|(name, _)| *name == index).map_or_else(|| index.to_owned(), |(_, c)| (*c).to_owned())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await.map(drop).map_err(Self::error)
    }

    fn pool_stats(&self) -> PoolStats {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX).min(size);
        PoolStats { size, idle, in_use: size - idle, max: self.max }
    }

    async fn migrate_run(&self) -> Result<Vec<i64>, StoreError> {
        migrations::run(&MIGRATOR, &self.pool).await
    }

    async fn migrate_revert(&self) -> Result<Option<i64>, StoreError> {
        migrations::revert(&MIGRATOR, &self.pool).await
    }

    async fn migrate_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        migrations::status(&MIGRATOR, &self.pool).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

crate::queries::impl_store_traits!(PgStore, crate::postgres::sql);

mod sql {
    pub const INSERT_USER: &str = "insert into users (id, username, email, password_hash, role, is_active, \
        tokens_valid_after, version, created_at, updated_at) \
        values ($1, $2, $3, $4, $5, true, $6, 1, $6, $6) returning *";
    pub const USER_BY_ID: &str = "select * from users where id = $1";
    pub const USER_BY_LOGIN: &str =
        "select * from users where lower(username) = lower($1) or lower(email) = lower($1) limit 1";
    pub const LIST_USERS: &str = "select * from users \
        where ($1::text is null or role = $1) and ($2::boolean is null or is_active = $2) \
        and ($3::uuid is null or id < $3) order by id desc limit $4";
    pub const UPDATE_USER: &str = "update users set role = coalesce($2, role), \
        is_active = coalesce($3, is_active), password_hash = coalesce($4, password_hash), \
        tokens_valid_after = coalesce($5, tokens_valid_after), version = version + 1, updated_at = $6 \
        where id = $1 and ($7::bigint is null or version = $7) returning *";
    pub const COUNT_ADMINS: &str = "select count(*) from users where role = 'admin' and is_active";
    pub const INSERT_REFRESH_TOKEN: &str = "insert into refresh_tokens \
        (id, user_id, family_id, token_hash, created_at, expires_at) values ($1, $2, $3, $4, $5, $6) returning *";
    pub const REFRESH_TOKEN_BY_HASH: &str = "select * from refresh_tokens where token_hash = $1";
    pub const MARK_ROTATED: &str =
        "update refresh_tokens set rotated_at = $2 where id = $1 and rotated_at is null and revoked_at is null";
    pub const REVOKE_FAMILY: &str =
        "update refresh_tokens set revoked_at = $2 where family_id = $1 and revoked_at is null";
    pub const REVOKE_USER_TOKENS: &str =
        "update refresh_tokens set revoked_at = $2 where user_id = $1 and revoked_at is null";
    pub const DELETE_EXPIRED_REFRESH_TOKENS: &str = "delete from refresh_tokens where expires_at < $1";
    pub const INSERT_AUDIT_EVENT: &str = "insert into audit_events \
        (id, kind, user_id, actor_id, ip, detail, created_at) values ($1, $2, $3, $4, $5, $6, $7) returning *";
    pub const LIST_AUDIT_EVENTS: &str = "select * from audit_events \
        where ($1::text is null or kind = $1) and ($2::uuid is null or user_id = $2) \
        and ($3::uuid is null or id < $3) order by id desc limit $4";
}
