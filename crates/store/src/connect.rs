//! Pool construction for both backends, with the settings that keep a saturated or dead database
//! from hanging requests (see DESIGN §11 and crate-notes on sqlx pool pitfalls).
use crate::{PgStore, SqliteStore, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections a replica keeps for steady load (`DATABASE_POOL_SIZE`).
    pub pool_size: u32,
    /// Extra connections allowed under bursts (`DATABASE_MAX_OVERFLOW`). sqlx has one limit, so the
    /// pool may open `pool_size + max_overflow`; idle ones above `pool_size` close after `idle_timeout`.
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

/// A pooled PostgreSQL connection idle at least this long is pinged before it is handed out, and
/// replaced if the ping fails: one that PostgreSQL, PgBouncer or the network dropped while it sat
/// idle costs no request. sqlx's `test_before_acquire` pinged on every checkout instead, and sqlx
/// also pings every connection as it is returned (a broken one is never put back): two extra round
/// trips for every query. Connections back from use within the last second were just pinged on
/// their return, so they are handed out as they are (HikariCP likewise skips connections used in
/// the last 500 ms). A connection broken while in use fails its query either way.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Builds the pool without connecting: the service starts (and reports unready) while the
/// database is down, instead of crash-looping.
pub fn connect_postgres(url: &str, options: &PostgresOptions) -> Result<PgStore, StoreError> {
    let statement_timeout = format!("{}", options.statement_timeout.as_millis());
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::other(format!("invalid DATABASE_URL: {}", redact(&e.to_string()))))?
        .application_name(&options.application_name)
        .options([("statement_timeout", statement_timeout.as_str())]);
    let max = options.pool_size + options.max_overflow;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        .max_lifetime(options.max_lifetime)
        .idle_timeout(options.idle_timeout)
        // sqlx's own test pings every connection on every checkout: a round trip more per query
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(connect);
    Ok(PgStore::new(pool, max))
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
        let shown = match sqlx::query_scalar::<_, String>("show statement_timeout").fetch_one(&store.pool).await {
            Ok(shown) => shown,
            Err(e) => {
                freeagentics_test_support::available(false, "PostgreSQL", &e);
                return;
            }
        };
        assert_eq!(shown, "1234ms");
        let name: String =
            sqlx::query_scalar("select current_setting('application_name')").fetch_one(&store.pool).await.unwrap();
        assert_eq!(name, "connect-test");
        let pool = store.pool.options();
        assert_eq!(pool.get_max_connections(), 3, "size + overflow");
        assert_eq!(pool.get_max_lifetime(), Some(Duration::from_secs(77)));
        assert_eq!(pool.get_acquire_timeout(), Duration::from_millis(1500));
        store.pool.close().await;
    }

    /// A server-side drop of an idle connection (a PostgreSQL or PgBouncer restart) costs no query:
    /// the connection is pinged before use once it has been idle for `PING_IDLE_AFTER`.
    #[tokio::test]
    async fn an_idle_connection_dropped_by_the_server_is_replaced_before_use() {
        let admin = freeagentics_test_support::database_admin_url();
        let options = PostgresOptions {
            pool_size: 1,
            max_overflow: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(600),
            application_name: "ping-test".to_owned(),
        };
        let store = connect_postgres(&format!("{admin}/postgres"), &options).unwrap();
        let pid = "select pg_backend_pid()";
        let first: i32 = match sqlx::query_scalar(pid).fetch_one(&store.pool).await {
            Ok(first) => first,
            Err(e) => {
                freeagentics_test_support::available(false, "PostgreSQL", &e);
                return;
            }
        };
        let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{admin}/postgres")).await.unwrap();
        let killed: bool =
            sqlx::query_scalar("select pg_terminate_backend($1)").bind(first).fetch_one(&mut other).await.unwrap();
        assert!(killed);
        tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(200)).await;
        let second: i32 =
            sqlx::query_scalar(pid).fetch_one(&store.pool).await.expect("the dead connection is replaced");
        assert_ne!(first, second, "a new connection");
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
