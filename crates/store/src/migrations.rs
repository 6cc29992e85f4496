//! `migrate run|revert|status` for either backend, on top of sqlx's reversible migrator.
use crate::StoreError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Pool};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationState {
    Applied,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
}

fn map(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => StoreError::from_sqlx(e, |_| None),
        other => StoreError::other(other),
    }
}

async fn applied<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<BTreeSet<i64>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let mut conn = pool.acquire().await.map_err(|e| StoreError::from_sqlx(e, |_| None))?;
    conn.ensure_migrations_table(&migrator.table_name).await.map_err(map)?;
    let applied = conn.list_applied_migrations(&migrator.table_name).await.map_err(map)?;
    Ok(applied.into_iter().map(|m| m.version).collect())
}

/// Applies pending migrations and returns the versions it applied.
pub(crate) async fn run<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Vec<i64>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let before = applied(migrator, pool).await?;
    migrator.run(pool).await.map_err(map)?;
    let after = applied(migrator, pool).await?;
    Ok(after.difference(&before).copied().collect())
}

/// Undoes exactly the newest applied migration (the runbook's `alembic downgrade -1`).
pub(crate) async fn revert<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Option<i64>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let applied = applied(migrator, pool).await?;
    let mut newest_first = applied.iter().rev();
    let Some(&last) = newest_first.next() else { return Ok(None) };
    let target = newest_first.next().copied().unwrap_or(0);
    migrator.undo(pool, target).await.map_err(map)?;
    Ok(Some(last))
}

pub(crate) async fn status<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Vec<MigrationStatus>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let applied = applied(migrator, pool).await?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| MigrationStatus {
            version: m.version,
            description: m.description.to_string(),
            state: if applied.contains(&m.version) { MigrationState::Applied } else { MigrationState::Pending },
        })
        .collect())
}
