//! Pool construction for both backends, with the settings that keep a saturated or dead database
//! from hanging requests (see DESIGN §11 and crate-notes on sqlx pool pitfalls).
use crate::pg_pool::{PgPool, PoolSettings};
use crate::{PgStore, SqliteStore, StoreError};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections a replica keeps for steady load (`DATABASE_POOL_SIZE`).
    pub pool_size: u32,
    /// Extra connections allowed under bursts (`DATABASE_MAX_OVERFLOW`): the pool may open
    /// `pool_size + max_overflow`; idle ones above `pool_size` close after `idle_timeout`.
    pub max_overflow: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    pub max_lifetime: Duration,
    pub idle_timeout: Duration,
    pub application_name: String,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub read_connections: u32,
    pub acquire_timeout: Duration,
    pub busy_timeout: Duration,
}

/// Builds the pool without connecting: the service starts (and reports unready) while the
/// database is down, instead of crash-looping.
pub fn connect_postgres(url: &str, options: &PostgresOptions) -> Result<PgStore, StoreError> {
    let statement_timeout = format!("{}", options.statement_timeout.as_millis());
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::other(format!("invalid DATABASE_URL: {}", redact(&e.to_string()))))?
        .application_name(&options.application_name)
        .options([("statement_timeout", statement_timeout.as_str())]);
    let settings = PoolSettings {
        max: options.pool_size + options.max_overflow,
        keep: options.pool_size,
        acquire_timeout: options.acquire_timeout,
        max_lifetime: options.max_lifetime,
        idle_timeout: options.idle_timeout,
    };
    Ok(PgStore::new(PgPool::new(connect, settings)))
}

/// Opens (creating if needed) the embedded database: WAL so readers never block the writer, and a
/// single-connection write pool so concurrent writers queue instead of failing with SQLITE_BUSY.
pub async fn connect_sqlite(options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
    if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::other(format!("cannot create {}: {e}", parent.display())))?;
    }
    let base = SqliteConnectOptions::new()
        .filename(&options.path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    let map = |e: sqlx::Error| StoreError::Unavailable(format!("{}: {e}", options.path.display()));
    // an embedded database's connections cannot be dropped by anything but this process: no
    // liveness ping (a round trip to the connection's worker thread) on checkout
    let write = SqlitePoolOptions::new()
        .test_before_acquire(false)
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(base.clone())
        .await
        .map_err(map)?;
    let read = SqlitePoolOptions::new()
        .test_before_acquire(false)
        .max_connections(options.read_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(base.read_only(true))
        .await
        .map_err(map)?;
    Ok(SqliteStore::new(write, read, 1 + options.read_connections.max(1)))
}

/// sqlx echoes the URL in some parse errors; never let a password reach a log line. A URL that
/// parses keeps its user and loses its password; one that does not parse (sqlx's complaint may be
/// exactly that) loses everything between the scheme and the `@`.
fn redact(message: &str) -> String {
    let words: Vec<String> = message
        .split(' ')
        .map(|word| {
            let Some((scheme, rest)) = word.split_once("://") else { return word.to_owned() };
            match url::Url::parse(word) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    // only URLs that can have a password get here, so setting it cannot fail
                    let _ = parsed.set_password(Some("***"));
                    parsed.to_string()
                }
                Ok(_) => word.to_owned(),
                Err(_) => match rest.rsplit_once('@') {
                    Some((_, host)) => format!("{scheme}://***@{host}"),
                    None => word.to_owned(),
                },
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_runs_in_wal_mode_with_a_single_writer() {
        let dir = std::env::temp_dir().join(format!("fa-connect-{}", uuid::Uuid::now_v7().simple()));
        let options = SqliteOptions {
            path: dir.join("nested").join("connect.db"),
            read_connections: 2,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
        };
        let store = connect_sqlite(&options).await.unwrap();
        let mode: String = sqlx::query_scalar("pragma journal_mode").fetch_one(&store.write).await.unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(store.write.options().get_max_connections(), 1, "writes are serialised");
        assert!(options.path.exists(), "the file and its directories are created");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn postgres_connections_carry_the_statement_timeout_and_lifetime() {
        let admin = freeagentics_test_support::database_admin_url();
        let options = PostgresOptions {
            pool_size: 2,
            max_overflow: 1,
            acquire_timeout: Duration::from_millis(1500),
            statement_timeout: Duration::from_millis(1234),
            max_lifetime: Duration::from_secs(77),
            idle_timeout: Duration::from_secs(60),
            application_name: "connect-test".to_owned(),
        };
        let store = connect_postgres(&format!("{admin}/postgres"), &options).unwrap();
        let mut conn = match store.pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                freeagentics_test_support::available(false, "PostgreSQL", &e);
                return;
            }
        };
        let shown: String = sqlx::query_scalar("show statement_timeout").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(shown, "1234ms");
        let name: String =
            sqlx::query_scalar("select current_setting('application_name')").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(name, "connect-test");
        drop(conn);
        let settings = store.pool.settings();
        assert_eq!(settings.max, 3, "size + overflow");
        assert_eq!(settings.keep, 2, "idle connections up to the size are kept");
        assert_eq!(settings.max_lifetime, Duration::from_secs(77));
        assert_eq!(settings.idle_timeout, Duration::from_secs(60));
        assert_eq!(settings.acquire_timeout, Duration::from_millis(1500));
        store.pool.close().await;
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(redact("bad url postgres://u:hunter2@db/fa"), "bad url postgres://u:***@db/fa");
        assert_eq!(redact("port postgres://u:p%40ss@db:99999/fa"), "port postgres://***@db:99999/fa");
        assert_eq!(redact("postgres://u@db/fa has no password"), "postgres://u@db/fa has no password");
        assert_eq!(redact("no url here"), "no url here");
    }
}
