//! How the Redis pool checks a connection before handing it out again. deadpool-redis sends
//! `UNWATCH` + `PING` on every checkout: a whole round trip before every command, so a request that
//! needs one Redis answer paid for two. Here a connection whose last command was answered moments
//! ago is handed out as it is; the others are still pinged. Nothing in this service sends `WATCH`,
//! so there is nothing for `UNWATCH` to undo.
use deadpool::managed::{Manager, Metrics, RecycleResult};
use deadpool_redis::redis::RedisError;
use deadpool_redis::redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

/// How recently a connection must have answered to skip the check. A connection that answered
/// this recently and is broken now fails its next command: the caller degrades as it would if
/// Redis had gone away just after a successful check, which the check never ruled out either.
pub(crate) const ANSWERED_RECENTLY: Duration = Duration::from_secs(1);

/// A pooled connection and when it last answered a command.
pub struct Tracked {
    pub(crate) conn: MultiplexedConnection,
    answered_at: Option<Instant>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked").field("answered_at", &self.answered_at).finish_non_exhaustive()
    }
}

impl Tracked {
    /// Called at checkout: until a command on it is answered, the connection counts as unproven,
    /// so one given back mid-command (a timeout dropped it) is checked before its next use.
    pub(crate) fn unproven(&mut self) {
        self.answered_at = None;
    }

    pub(crate) fn answered(&mut self) {
        self.answered_at = Some(Instant::now());
    }
}

/// Wraps deadpool-redis's manager (the one Redis, or the primary Sentinel names): it still opens
/// the connections and checks the ones that have not answered lately.
#[derive(Debug)]
pub struct Recent<M>(pub(crate) M);

impl<M> Manager for Recent<M>
where
    M: Manager<Type = MultiplexedConnection, Error = RedisError>,
{
    type Type = Tracked;
    type Error = RedisError;

    // both boxed: opening and checking a connection are large futures, and every Redis command
    // awaits the checkout that may run them; they are the rare path here
    async fn create(&self) -> Result<Tracked, RedisError> {
        Ok(Tracked { conn: Box::pin(self.0.create()).await?, answered_at: None })
    }

    async fn recycle(&self, tracked: &mut Tracked, metrics: &Metrics) -> RecycleResult<RedisError> {
        if tracked.answered_at.is_some_and(|at| at.elapsed() < ANSWERED_RECENTLY) {
            return Ok(());
        }
        Box::pin(self.0.recycle(&mut tracked.conn, metrics)).await
    }
}

#[cfg(test)]
mod tests {
    // Tests assert by unwrapping.
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::ANSWERED_RECENTLY;
    use crate::{RedisOptions, RedisPool};
    use deadpool_redis::redis::cmd;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Between the pool and Redis: counts the `PING`s the pool sends and can hold Redis's replies.
    struct Relay {
        url: String,
        pings: Arc<AtomicUsize>,
        hold_replies: Arc<AtomicBool>,
    }

    async fn relay() -> Relay {
        let url = freeagentics_test_support::redis_url();
        let upstream = url.trim_start_matches("redis://").split(['/', '?']).next().unwrap();
        let upstream = upstream.rsplit('@').next().unwrap().to_owned();
        let credentials = url.trim_start_matches("redis://").split_once('@').map(|(c, _)| format!("{c}@"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            url: format!("redis://{}{}", credentials.unwrap_or_default(), listener.local_addr().unwrap()),
            pings: Arc::default(),
            hold_replies: Arc::default(),
        };
        let (pings, hold) = (relay.pings.clone(), relay.hold_replies.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let pings = pings.clone();
                tokio::spawn(copy(client_read, server_write, move |chunk| {
                    let found = chunk.windows(6).filter(|w| w.eq_ignore_ascii_case(b"PING\r\n")).count();
                    pings.fetch_add(found, Ordering::SeqCst);
                }));
                let hold = hold.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 16 * 1024];
                    let (mut from, mut to) = (server_read, client_write);
                    while let Ok(n @ 1..) = from.read(&mut buf).await {
                        while hold.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        relay
    }

    async fn copy(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, mut seen: impl FnMut(&[u8])) {
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            seen(&buf[..n]);
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    }

    /// One connection, so every command after the first reuses it; `None` without Redis outside CI.
    async fn pool_through(relay: &Relay) -> Option<RedisPool> {
        let options = RedisOptions {
            pool_size: 1,
            timeout: Duration::from_millis(500),
            key_prefix: format!("fa:test:{}:", uuid::Uuid::now_v7().simple()),
        };
        let pool = RedisPool::new(&relay.url, &options).unwrap();
        match pool.query::<bool>(cmd("EXISTS").arg(pool.key("x"))).await {
            Ok(_) => Some(pool),
            Err(e) => {
                freeagentics_test_support::available(false, "Redis", &e);
                None
            }
        }
    }

    async fn exists(pool: &RedisPool) -> Result<bool, crate::RedisError> {
        pool.query::<bool>(cmd("EXISTS").arg(pool.key("x"))).await
    }

    #[tokio::test]
    async fn a_connection_that_just_answered_is_handed_out_again_without_a_ping() {
        let relay = relay().await;
        let Some(pool) = pool_through(&relay).await else { return };
        for _ in 0..3 {
            assert!(!exists(&pool).await.unwrap());
        }
        assert_eq!(relay.pings.load(Ordering::SeqCst), 0, "three reuses, no checks");
    }

    #[tokio::test]
    async fn a_connection_idle_for_longer_is_pinged_before_its_next_command() {
        let relay = relay().await;
        let Some(pool) = pool_through(&relay).await else { return };
        tokio::time::sleep(ANSWERED_RECENTLY + Duration::from_millis(100)).await;
        assert!(!exists(&pool).await.unwrap());
        assert_eq!(relay.pings.load(Ordering::SeqCst), 1);
        assert!(!exists(&pool).await.unwrap());
        assert_eq!(relay.pings.load(Ordering::SeqCst), 1, "answered just now: not checked again");
    }

    #[tokio::test]
    async fn a_connection_given_back_mid_command_is_pinged_before_its_next_one() {
        let relay = relay().await;
        let Some(pool) = pool_through(&relay).await else { return };
        relay.hold_replies.store(true, Ordering::SeqCst);
        assert!(exists(&pool).await.is_err(), "the reply is held past the pool's timeout");
        relay.hold_replies.store(false, Ordering::SeqCst);
        assert!(!exists(&pool).await.unwrap());
        assert_eq!(relay.pings.load(Ordering::SeqCst), 1, "the abandoned connection was checked first");
    }
}
