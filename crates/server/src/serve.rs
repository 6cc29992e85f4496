//! Our own accept loop (instead of `axum::serve`), so slow, idle and surplus clients cannot hold
//! the server: a header-read timeout and an idle keep-alive timeout per connection
//! (`serve::activity`), a cap on total request-head size (hyper's read buffer for HTTP/1, the
//! header-list limit for HTTP/2), HTTP/2 keep-alive pings, and a connection cap per listener —
//! past it a connection is accepted, answered with a best-effort 503 and closed at once, so the
//! process never runs out of descriptors and the refusal is counted (rather than left unseen in
//! the kernel's backlog, where clients would hang until their connect timeout).
//!
//! Upgraded connections (WebSocket) leave the HTTP timeouts behind: the upgrade hands the socket
//! to the application, which runs its own heartbeat; they still count as open until they close.
//!
//! Shutdown ([`ServeControl`]): stop accepting (the listeners close), ask each connection to close
//! once its in-flight requests are answered, and — if the caller's deadline passes — drop the rest.
mod activity;
mod io;
mod service;
pub mod settings;
mod stats;

use activity::{Activity, Timeouts, Verdict};
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use io::TrackedIo;
use service::Tracked;
pub use settings::{CapSource, HttpSettings};
use stats::ListenerStats;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// An HTTP/2 PING not acknowledged within this closes the connection.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Refusals are logged at most this often per listener, with the count since the last line.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const ABORT: u8 = 2;

/// Shutdown of every listener served with it.
#[derive(Debug, Clone, Default)]
pub struct ServeControl {
    inner: Arc<Control>,
}

#[derive(Debug, Default)]
struct Control {
    stopping: CancellationToken,
    level: AtomicU8,
    /// Open connections (before any upgrade), to wake them for shutdown. Each connection's driver
    /// checks `level` when woken: cheaper than every connection polling a shared notification,
    /// which takes a lock on each wake-up.
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    /// Signalled when the last registered connection ends. (A `TaskTracker` would do, but it
    /// wraps every poll of every connection; this costs one lock per connection.)
    all_closed: Notify,
}

impl ServeControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops accepting on every listener (their sockets close) and asks each connection to close
    /// once its in-flight requests are answered (HTTP/1: after the current response; HTTP/2: GOAWAY).
    pub fn stop_accepting(&self) {
        self.escalate(GRACEFUL);
    }

    /// Drops every remaining connection, finished or not.
    pub fn abort(&self) {
        self.escalate(ABORT);
    }

    /// Resolves once every connection has closed (call after `stop_accepting`).
    pub async fn connections_closed(&self) {
        loop {
            let notified = self.inner.all_closed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.connections().is_empty() {
                return;
            }
            notified.await;
        }
    }

    fn escalate(&self, level: u8) {
        self.inner.level.fetch_max(level, Ordering::SeqCst);
        self.inner.stopping.cancel();
        for activity in self.connections().values() {
            activity.waker.wake();
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.inner.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `None` once shutdown has begun.
    fn register(&self, activity: &Arc<Activity>) -> Option<Registration> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.connections();
        if self.inner.level.load(Ordering::SeqCst) != RUNNING {
            return None;
        }
        connections.insert(id, Arc::clone(activity));
        Some(Registration { control: self.clone(), id })
    }
}

struct Registration {
    control: ServeControl,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut connections = self.control.connections();
        connections.remove(&self.id);
        if connections.is_empty() {
            self.control.inner.all_closed.notify_waiters();
        }
    }
}

/// Serves `listener` until [`ServeControl::stop_accepting`]; returns when it stopped accepting
/// (await [`ServeControl::connections_closed`] for the connections). `make_service` is called
/// with each client's address: axum's `into_make_service_with_connect_info::<SocketAddr>` puts
/// `ConnectInfo` in every request's extensions, as `axum::serve` did.
pub async fn serve<M, S>(
    listener: TcpListener,
    name: &'static str,
    mut make_service: M,
    settings: HttpSettings,
    control: ServeControl,
) where
    M: tower::Service<SocketAddr, Response = S, Error = Infallible>,
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let stats = Arc::new(ListenerStats::new(name, settings.max_connections));
    let builder = Arc::new(builder(&settings));
    let timeouts = Timeouts { header: settings.header_read_timeout, idle: settings.keepalive_timeout };
    let refusal = refusal_response();
    let clock = quanta::Clock::new();
    let mut refusals = RefusalLog::default();
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = control.inner.stopping.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error, &control.inner.stopping).await;
                    continue;
                }
            },
        };
        let Some(slot) = stats.try_open() else {
            refuse(&stream, &refusal);
            stats.refused.increment(1);
            refusals.note(&stats);
            continue;
        };
        // responses are written whole; do not hold the tail of one back waiting for an ACK
        let _ = stream.set_nodelay(true);
        let service = match make_service.ready().await {
            Ok(ready) => match ready.call(remote).await {
                Ok(service) => service,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let activity = Arc::new(Activity::new(clock.clone()));
        let Some(registration) = control.register(&activity) else { break };
        let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&activity), slot));
        let service = Tracked::new(service, Arc::clone(&activity));
        let builder = Arc::clone(&builder);
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(io, service);
            let outcome =
                drive(conn, |conn| conn.graceful_shutdown(), &activity, timeouts, &registration.control).await;
            match outcome {
                Outcome::Finished(Ok(())) | Outcome::Aborted => {}
                Outcome::Finished(Err(error)) => tracing::debug!(%remote, %error, "connection ended with an error"),
                Outcome::HeaderTimeout => {
                    stats.header_timeouts.increment(1);
                    tracing::debug!(%remote, "connection closed: request head not complete in time");
                }
                Outcome::IdleTimeout => stats.idle_timeouts.increment(1),
            }
            drop(registration);
        });
    }
    drop(listener);
    tracing::debug!(listener = name, open = stats.open(), "stopped accepting");
}

fn builder(settings: &HttpSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // hyper's header timer also runs while a connection is idle; `activity` does both instead
        .header_read_timeout(None)
        // the read buffer holds the whole request head before it is parsed: bounding it bounds
        // the head, and hyper answers 431 when it is full (see `io` for how the socket closes)
        .max_buf_size(settings.max_header_bytes.max(settings::MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.http2_keepalive_interval)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

#[derive(Debug)]
enum Outcome<E> {
    /// hyper finished the connection (the client closed, `Connection: close`, an upgrade, an error).
    Finished(Result<(), E>),
    HeaderTimeout,
    IdleTimeout,
    Aborted,
}

/// Polls the connection and its timer together, in the connection's own task: a timeout costs no
/// extra task. Per wake-up it reads two atomics (the shutdown level, the timer's state); the timer
/// and the shutdown waker are registered again only when the task's waker changes or after they
/// fired, not on every poll.
async fn drive<C, E>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    activity: &Activity,
    timeouts: Timeouts,
    control: &ServeControl,
) -> Outcome<E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut conn = std::pin::pin!(conn);
    let mut timer = std::pin::pin!(tokio::time::sleep(timeouts.header));
    let mut registered: Option<std::task::Waker> = None;
    let mut level_seen = RUNNING;
    let mut idle_expired = false;
    std::future::poll_fn(|cx| {
        loop {
            if registered.as_ref().is_none_or(|waker| !waker.will_wake(cx.waker())) {
                activity.waker.register(cx.waker());
                // registers the timer's waker (it is not elapsed: it was just reset, or it would
                // have been handled below before this task slept)
                if timer.as_mut().poll(cx).is_pending() {
                    registered = Some(cx.waker().clone());
                }
            }
            let level = control.inner.level.load(Ordering::SeqCst);
            if level != level_seen {
                // the shutdown waker was used up: register it again on the next round
                registered = None;
                level_seen = level;
                match level {
                    ABORT => return Poll::Ready(Outcome::Aborted),
                    _ => graceful(conn.as_mut()),
                }
            }
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(if idle_expired { Outcome::IdleTimeout } else { Outcome::Finished(result) });
            }
            if !timer.is_elapsed() {
                if registered.is_some() {
                    return Poll::Pending;
                }
                continue;
            }
            let now = Instant::now();
            match activity.check(timeouts) {
                Verdict::Wait(wait) => timer.as_mut().reset(now + wait),
                Verdict::HeaderExpired => return Poll::Ready(Outcome::HeaderTimeout),
                // asked to close a header timeout ago and still open: drop it
                Verdict::IdleExpired if idle_expired => return Poll::Ready(Outcome::IdleTimeout),
                Verdict::IdleExpired => {
                    idle_expired = true;
                    if level_seen == RUNNING {
                        graceful(conn.as_mut());
                    }
                    timer.as_mut().reset(now + timeouts.header);
                }
            }
            // the reset timer needs its waker
            registered = None;
        }
    })
    .await
}

/// Accept errors other than a client giving up (e.g. out of descriptors) would otherwise spin.
async fn accept_failed(error: std::io::Error, stopping: &CancellationToken) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
        () = stopping.cancelled() => {}
    }
}

/// Answers a connection past the cap without waiting for anything: what the client has already
/// sent is read first (closing with unread data sends a reset, which can destroy the answer).
fn refuse(stream: &TcpStream, response: &[u8]) {
    let mut scratch = [0u8; 4096];
    for _ in 0..4 {
        match stream.try_read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = stream.try_write(response);
}

/// The 503 problem a refused connection gets (HTTP/1; an HTTP/2 client just sees the close).
fn refusal_response() -> Vec<u8> {
    let problem =
        freeagentics_api::ApiError::unavailable("the server is at its connection limit; retry shortly").to_problem();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        freeagentics_api::error::PROBLEM_CONTENT_TYPE,
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// A warning when refusals start, then at most one per interval while they go on.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    since_last: u64,
}

impl RefusalLog {
    fn note(&mut self, stats: &ListenerStats) {
        self.since_last += 1;
        if self.last.is_none_or(|last| last.elapsed() >= REFUSAL_LOG_INTERVAL) {
            tracing::warn!(
                listener = stats.name,
                max_connections = stats.max(),
                refused = self.since_last,
                "connection cap reached: refusing new connections (HTTP_MAX_CONNECTIONS)"
            );
            self.last = Some(Instant::now());
            self.since_last = 0;
        }
    }
}
