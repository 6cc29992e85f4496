//! The PostgreSQL connection pool. sqlx's pool sends a ping (a Sync and its ReadyForQuery) on
//! every connection it takes back, in a task of its own: one round trip more for every query, half
//! of PostgreSQL's messages under load (see docs/PERFORMANCE.md), and a release that can hang on a
//! silent peer (sqlx#4349). This pool takes a connection back as it is. It does wire work only when
//! something was left unfinished:
//! - a rollback queued by a dropped transaction, or a write cut short, is sent at once (a
//!   connection must not sit idle inside a transaction, holding its locks);
//! - replies to a request abandoned mid-way are drained before the next user sends anything
//!   (`flush`, free when nothing is pending); one whose request failed because the server dropped
//!   it fails that drain and is replaced, so it costs one query, not one per checkout;
//! - a connection idle for `PING_IDLE_AFTER` is pinged before use, and replaced if it fails.
//!
//! Connections are handed out most recently used first, so a quiet pool keeps its hot
//! connections and the surplus ages out: beyond `keep` connections, one idle for `idle_timeout` is
//! closed, and any connection older than `max_lifetime` is closed when it comes back or is found
//! idle.
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection idle at least this long is pinged before it is handed out: one that PostgreSQL,
/// PgBouncer or the network dropped while it sat idle then costs no request. One back from use
/// more recently answered a query just now (HikariCP likewise skips connections used in the last
/// 500 ms). A connection broken while in use fails its query either way.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// How long sending a dropped transaction's rollback may take before the connection is given up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    /// At most this many connections are open (in use, idle, or being opened).
    pub max: u32,
    /// Idle connections kept however long they sit unused.
    pub keep: u32,
    pub acquire_timeout: Duration,
    pub max_lifetime: Duration,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct PgPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    connect: PgConnectOptions,
    settings: PoolSettings,
    /// Least recently used first: connections are taken from the end.
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection that may be open and not idle.
    permits: Arc<Semaphore>,
    closed: AtomicBool,
    reaper: Once,
}

#[derive(Debug)]
struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

/// A connection lent out by the pool; it goes back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    conn: Option<PgConnection>,
    opened: Instant,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
}

/// Open, idle and in-use connections, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub idle: u32,
    pub in_use: u32,
}

impl PgPool {
    /// Opens nothing: the first `acquire` connects.
    pub(crate) fn new(connect: PgConnectOptions, settings: PoolSettings) -> Self {
        let permits = Arc::new(Semaphore::new(settings.max as usize));
        let shared = Shared {
            connect,
            settings,
            idle: Mutex::new(Vec::new()),
            permits,
            closed: AtomicBool::new(false),
            reaper: Once::new(),
        };
        Self { shared: Arc::new(shared) }
    }

    pub(crate) fn settings(&self) -> &PoolSettings {
        &self.shared.settings
    }

    pub(crate) fn connect_options(&self) -> &PgConnectOptions {
        &self.shared.connect
    }

    /// A connection, waiting up to the acquire timeout for one to be free (`PoolTimedOut`).
    pub(crate) async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        self.shared.reaper.call_once(|| {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(reap(Arc::downgrade(&self.shared)));
            }
        });
        tokio::time::timeout(self.shared.settings.acquire_timeout, self.acquire_now())
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    async fn acquire_now(&self) -> Result<Lease, sqlx::Error> {
        let permit = Arc::clone(&self.shared.permits).acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some(idle) = self.shared.take_idle() {
            let Idle { mut conn, opened, since } = idle;
            if opened.elapsed() >= self.shared.settings.max_lifetime {
                spawn_close(conn);
                continue;
            }
            let ready = if since.elapsed() >= PING_IDLE_AFTER { conn.ping().await } else { conn.flush().await };
            match ready {
                Ok(()) => return Ok(self.lease(conn, opened, permit)),
                Err(error) => tracing::info!(%error, "replacing a pooled connection that failed its check"),
            }
        }
        let conn = self.shared.connect.connect().await?;
        Ok(self.lease(conn, Instant::now(), permit))
    }

    fn lease(&self, conn: PgConnection, opened: Instant, permit: OwnedSemaphorePermit) -> Lease {
        Lease { conn: Some(conn), opened, shared: Arc::clone(&self.shared), permit: Some(permit) }
    }

    pub(crate) fn counts(&self) -> Counts {
        let idle = u32::try_from(self.shared.lock_idle().len()).unwrap_or(u32::MAX);
        let free = u32::try_from(self.shared.permits.available_permits()).unwrap_or(u32::MAX);
        Counts { idle, in_use: self.shared.settings.max.saturating_sub(free) }
    }

    /// Refuses new acquires and closes the idle connections; lent ones close when they come back.
    pub(crate) async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.shared.lock_idle());
        for idle in idle {
            let _ = idle.conn.close().await;
        }
    }
}

impl Shared {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // the lock guards plain pushes and pops: a panic elsewhere cannot leave the list half-changed
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_idle(&self) -> Option<Idle> {
        self.lock_idle().pop()
    }

    /// Idle connections past the idle timeout (beyond `keep`) or the lifetime, taken off the list.
    fn take_expired(&self) -> Vec<PgConnection> {
        let settings = &self.settings;
        let mut idle = self.lock_idle();
        let mut surplus = idle.len().saturating_sub(settings.keep as usize);
        let mut expired = Vec::new();
        let mut kept = Vec::with_capacity(idle.len());
        for entry in idle.drain(..) {
            let stale = surplus > 0 && entry.since.elapsed() >= settings.idle_timeout;
            if stale || entry.opened.elapsed() >= settings.max_lifetime {
                surplus = surplus.saturating_sub(1);
                expired.push(entry.conn);
            } else {
                kept.push(entry);
            }
        }
        *idle = kept;
        expired
    }
}

/// Closes expired idle connections until the pool is dropped or closed.
async fn reap(shared: Weak<Shared>) {
    let period = shared.upgrade().map_or(Duration::from_secs(1), |s| {
        s.settings
            .idle_timeout
            .min(s.settings.max_lifetime)
            .div_f32(2.0)
            .clamp(Duration::from_millis(100), Duration::from_secs(30))
    });
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = shared.upgrade() else { return };
        if pool.closed.load(Ordering::Acquire) {
            return;
        }
        let expired = pool.take_expired();
        drop(pool);
        for conn in expired {
            let _ = conn.close().await;
        }
    }
}

/// Says goodbye (a Terminate) instead of dropping the socket, which PostgreSQL logs as an error.
fn spawn_close(conn: PgConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = conn.close().await;
        });
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        // only `drop` takes the connection out
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else { return };
        let shared = Arc::clone(&self.shared);
        if shared.closed.load(Ordering::Acquire) || self.opened.elapsed() >= shared.settings.max_lifetime {
            spawn_close(conn);
            return;
        }
        let opened = self.opened;
        if conn.should_flush() {
            // a dropped transaction's ROLLBACK waits in the buffer: send it now, holding the permit
            // so the pool never counts the connection as free before it is
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Ok(Ok(())) = tokio::time::timeout(FLUSH_TIMEOUT, conn.flush()).await {
                        shared.lock_idle().push(Idle { conn, opened, since: Instant::now() });
                    }
                    drop(permit);
                });
            }
            return;
        }
        // back on the list before the permit is released, so the waiter it wakes finds it
        shared.lock_idle().push(Idle { conn, opened, since: Instant::now() });
        drop(permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn settings(max: u32) -> PoolSettings {
        PoolSettings {
            max,
            keep: max,
            acquire_timeout: Duration::from_secs(5),
            max_lifetime: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(600),
        }
    }

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(url).unwrap()
    }

    fn admin() -> String {
        format!("{}/postgres", freeagentics_test_support::database_admin_url())
    }

    /// The pool on `admin()`, or None (a skip, which CI refuses) without PostgreSQL.
    async fn pool(settings: PoolSettings) -> Option<PgPool> {
        let pool = PgPool::new(options(&admin()), settings);
        match pool.acquire().await {
            Ok(_) => Some(pool),
            Err(e) => {
                freeagentics_test_support::available(false, "PostgreSQL", &e);
                None
            }
        }
    }

    async fn backend_pid(pool: &PgPool) -> i32 {
        sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *pool.acquire().await.unwrap()).await.unwrap()
    }

    /// Ends a connection from the server's side, as a PostgreSQL restart or failover does.
    async fn terminate_backend(pid: i32) {
        let mut other = PgConnection::connect(&admin()).await.unwrap();
        let killed: bool =
            sqlx::query_scalar("select pg_terminate_backend($1)").bind(pid).fetch_one(&mut other).await.unwrap();
        assert!(killed, "backend {pid} terminated");
    }

    /// A TCP relay to PostgreSQL between the pool and the server.
    struct Relay {
        url: String,
        /// Bytes the client sent.
        sent: Arc<AtomicUsize>,
        /// While set, the server's replies wait in the relay: a peer that went silent.
        hold_replies: Arc<AtomicBool>,
    }

    async fn relay() -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicUsize::new(0));
        let hold_replies = Arc::new(AtomicBool::new(false));
        let (counter, held) = (Arc::clone(&sent), Arc::clone(&hold_replies));
        let upstream = options(&admin());
        let target = format!("{}:{}", upstream.get_host(), upstream.get_port());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&target).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let (counter, held) = (Arc::clone(&counter), Arc::clone(&held));
                tokio::spawn(async move {
                    let mut buf = vec![0; 8192];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        counter.fetch_add(n, Ordering::SeqCst);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0; 8192];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        while held.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let user = upstream.get_username();
        Relay { url: format!("postgres://{user}@127.0.0.1:{port}/postgres?sslmode=disable"), sent, hold_replies }
    }

    #[tokio::test]
    async fn a_connection_goes_back_to_the_pool_without_a_round_trip() {
        if pool(settings(1)).await.is_none() {
            return;
        }
        let Relay { url, sent, .. } = relay().await;
        let pool = PgPool::new(options(&url), settings(1));
        let mut conn = pool.acquire().await.unwrap();
        let first: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *conn).await.unwrap();
        let after_query = sent.load(Ordering::SeqCst);
        drop(conn);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sent.load(Ordering::SeqCst), after_query, "nothing is sent when a connection comes back");
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), after_query, "nor when it is handed out again soon after");
        let second: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(first, second, "the same connection");
        drop(conn);
        pool.close().await;
    }

    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_at_once() {
        let Some(pool) = pool(settings(1)).await else { return };
        let key = i64::from(std::process::id()) << 20 | i64::from(rand_bits());
        let pid = {
            let mut conn = pool.acquire().await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("select pg_advisory_xact_lock($1)").bind(key).execute(&mut *tx).await.unwrap();
            let pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *tx).await.unwrap();
            pid
            // the transaction and the lease drop here, uncommitted
        };
        let mut observer = PgConnection::connect(&admin()).await.unwrap();
        let mut state = String::new();
        for _ in 0..50 {
            state = sqlx::query_scalar("select state from pg_stat_activity where pid = $1")
                .bind(pid)
                .fetch_one(&mut observer)
                .await
                .unwrap();
            if state == "idle" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(state, "idle", "not left idle in transaction");
        let held: i64 = sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory' and pid = $1")
            .bind(pid)
            .fetch_one(&mut observer)
            .await
            .unwrap();
        assert_eq!(held, 0, "the lock went with the rollback");
        assert_eq!(backend_pid(&pool).await, pid, "and the connection is reused");
        pool.close().await;
    }

    #[tokio::test]
    async fn a_rollback_left_unanswered_gives_the_connection_up_after_the_flush_timeout() {
        if pool(settings(1)).await.is_none() {
            return;
        }
        let relay = relay().await;
        let pool = PgPool::new(options(&relay.url), settings(1));
        let first = backend_pid(&pool).await;
        {
            let mut conn = pool.acquire().await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("select 1").execute(&mut *tx).await.unwrap();
            relay.hold_replies.store(true, Ordering::SeqCst);
            // the transaction and the lease drop here: the ROLLBACK goes out, its answer never comes back
        }
        let dropped = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pool.counts(), Counts { idle: 0, in_use: 1 }, "held while its rollback is unanswered");
        while pool.counts().in_use > 0 && dropped.elapsed() < FLUSH_TIMEOUT * 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(pool.counts(), Counts { idle: 0, in_use: 0 }, "given up, not put back");
        assert!(dropped.elapsed() >= FLUSH_TIMEOUT, "not before the flush timeout");
        relay.hold_replies.store(false, Ordering::SeqCst);
        assert_ne!(backend_pid(&pool).await, first, "the next acquire opens a new connection");
        pool.close().await;
    }

    fn rand_bits() -> u16 {
        uuid::Uuid::now_v7().as_u128().to_le_bytes()[0].into()
    }

    #[tokio::test]
    async fn a_query_abandoned_mid_way_leaves_the_connection_usable() {
        let Some(pool) = pool(settings(1)).await else { return };
        let pid = backend_pid(&pool).await;
        {
            let mut conn = pool.acquire().await.unwrap();
            let slow = sqlx::query_scalar::<_, i32>("select 1 from pg_sleep(0.3)").fetch_one(&mut *conn);
            assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err(), "abandoned");
        }
        let mut conn = pool.acquire().await.unwrap();
        let answer: i32 = sqlx::query_scalar("select 2").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(answer, 2, "the next query reads its own reply, not the abandoned one's");
        let same: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(same, pid, "on the same connection");
        drop(conn);
        pool.close().await;
    }

    #[tokio::test]
    async fn acquire_waits_for_a_free_connection_up_to_the_timeout() {
        let Some(pool) = pool(PoolSettings { acquire_timeout: Duration::from_millis(300), ..settings(1) }).await else {
            return;
        };
        let held = pool.acquire().await.unwrap();
        assert_eq!(pool.counts(), Counts { idle: 0, in_use: 1 });
        let started = Instant::now();
        assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolTimedOut)));
        assert!(started.elapsed() >= Duration::from_millis(300));
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        waiter.await.unwrap().expect("a waiter gets the connection given back");
        assert_eq!(pool.counts(), Counts { idle: 1, in_use: 0 });
        pool.close().await;
        assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)), "a closed pool refuses");
    }

    #[tokio::test]
    async fn surplus_idle_connections_close_after_the_idle_timeout() {
        let settings = PoolSettings { keep: 1, idle_timeout: Duration::from_millis(200), ..settings(3) };
        let Some(pool) = pool(settings).await else { return };
        let leases = futures_util::future::try_join_all((0..3).map(|_| pool.acquire())).await.unwrap();
        drop(leases);
        assert_eq!(pool.counts(), Counts { idle: 3, in_use: 0 });
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(pool.counts(), Counts { idle: 1, in_use: 0 }, "one kept, the surplus closed");
        pool.close().await;
    }

    #[tokio::test]
    async fn a_connection_past_its_lifetime_is_replaced() {
        let Some(pool) = pool(PoolSettings { max_lifetime: Duration::from_millis(300), ..settings(1) }).await else {
            return;
        };
        let first = backend_pid(&pool).await;
        assert_eq!(backend_pid(&pool).await, first, "reused within its lifetime");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_ne!(backend_pid(&pool).await, first, "a new connection after it");
        pool.close().await;
    }

    /// A connection the server dropped while it was in recent use fails the one query that finds
    /// out, and is not handed out again: its unanswered request makes the next checkout's flush fail.
    #[tokio::test]
    async fn a_connection_that_failed_in_use_is_not_handed_out_again() {
        let Some(pool) = pool(settings(2)).await else { return };
        let first = backend_pid(&pool).await;
        terminate_backend(first).await;
        let failed = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&mut *pool.acquire().await.unwrap()).await;
        assert!(failed.is_err(), "the query on the dropped connection fails");
        for _ in 0..3 {
            assert_ne!(backend_pid(&pool).await, first, "then a live connection answers");
        }
        pool.close().await;
    }

    /// A server-side drop of an idle connection (a PostgreSQL or PgBouncer restart) costs no query:
    /// the connection is pinged before use once it has been idle for `PING_IDLE_AFTER`.
    #[tokio::test]
    async fn an_idle_connection_dropped_by_the_server_is_replaced_before_use() {
        let Some(pool) = pool(settings(1)).await else { return };
        let first = backend_pid(&pool).await;
        terminate_backend(first).await;
        tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(200)).await;
        assert_ne!(backend_pid(&pool).await, first, "a new connection, and no failed query");
        pool.close().await;
    }
}
