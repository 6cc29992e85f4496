//! One connection's clock. hyper's own header-read timeout starts whenever a connection waits for
//! a request head, idle time included, so it cannot give a short header timeout and a long
//! keep-alive at once; this tracks the phases itself, nginx-style:
//!
//! - **head**: from accept, or from the first byte of a request after an idle period, until a
//!   request reaches the service — bounded by the header-read timeout;
//! - **busy**: requests whose responses are not finished — no bound here (the request deadline and
//!   the handlers bound them), so a long request is never cut by the idle timeout;
//! - **idle**: no request in flight, no byte of the next one — bounded by the keep-alive timeout.
//!
//! The state is one atomic word (HTTP/2 streams finish on other tasks) and costs two clock reads
//! per request. The connection's driver wakes at the earliest deadline that could apply, asks
//! [`Activity::check`], and re-arms; it never needs waking when a phase moves a deadline later.
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Low bits: requests in flight. HTTP/2 allows a few hundred streams; 2^22 is far above.
const BUSY_BITS: u32 = 22;
const BUSY: u64 = (1 << BUSY_BITS) - 1;
/// Set while a request head is being read (or awaited right after accept), clear when idle.
const HEAD: u64 = 1 << BUSY_BITS;
/// High bits: milliseconds since accept at which the current head or idle period began.
const SINCE_SHIFT: u32 = BUSY_BITS + 1;

/// The two timeouts the phases are bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// What the driver should do after its timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet: sleep until then and ask again.
    Wait(Instant),
    /// A request head was not complete in time: drop the connection.
    HeaderExpired,
    /// Idle too long between requests: close it gracefully.
    IdleExpired,
}

#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    state: AtomicU64,
    /// The connection's driver, woken for shutdown.
    pub(super) waker: AtomicWaker,
}

impl Activity {
    /// A connection accepted at `origin`: its first request head is due within the header timeout.
    pub fn new(origin: Instant) -> Self {
        Activity { origin, state: AtomicU64::new(pack(0, true)), waker: AtomicWaker::new() }
    }

    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// A request reached the service.
    pub fn request_started(&self) {
        self.state.fetch_add(1, Ordering::Relaxed);
    }

    /// A response finished (written, or abandoned with its connection).
    pub fn request_finished(&self) {
        let now = self.millis(Instant::now());
        let _ = self.state.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
            Some(if state & BUSY <= 1 { pack(now, false) } else { state - 1 })
        });
    }

    /// Bytes of a request arrived (HTTP/1): after an idle period they start the next head.
    pub fn bytes_arrived(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state & (BUSY | HEAD) != 0 {
            return;
        }
        let now = self.millis(Instant::now());
        let _ = self.state.compare_exchange(state, pack(now, true), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the connection is part-way through a request head nobody has answered: closing it
    /// then should read what the client is still sending (see `io::TrackedIo`).
    pub fn mid_head(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        state & BUSY == 0 && state & HEAD != 0
    }

    pub fn check(&self, now: Instant, timeouts: Timeouts) -> Verdict {
        decide(self.state.load(Ordering::Relaxed), self.origin, now, timeouts)
    }

    fn millis(&self, now: Instant) -> u64 {
        // not `as_millis`: its u128 arithmetic runs twice per request here
        let since = now.saturating_duration_since(self.origin);
        since
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(since.subsec_millis()))
            .min(u64::MAX >> SINCE_SHIFT)
    }
}

fn pack(since_millis: u64, head: bool) -> u64 {
    (since_millis << SINCE_SHIFT) | if head { HEAD } else { 0 }
}

/// The verdict for `state` at `now`. While requests are in flight nothing expires, but the driver
/// still looks again within one header timeout: a head that starts after they finish must be
/// caught in time, and no one wakes the driver when it starts. For the same reason an idle
/// connection is looked at again no later than one header timeout from now.
fn decide(state: u64, origin: Instant, now: Instant, timeouts: Timeouts) -> Verdict {
    let recheck = now + timeouts.header;
    if state & BUSY != 0 {
        return Verdict::Wait(recheck);
    }
    let since = origin + Duration::from_millis(state >> SINCE_SHIFT);
    if state & HEAD != 0 {
        let deadline = since + timeouts.header;
        return if now >= deadline { Verdict::HeaderExpired } else { Verdict::Wait(deadline) };
    }
    let deadline = since + timeouts.idle;
    if now >= deadline { Verdict::IdleExpired } else { Verdict::Wait(deadline.min(recheck)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts { header: Duration::from_secs(10), idle: Duration::from_secs(75) };

    fn at(activity: &Activity, seconds: u64) -> Verdict {
        activity.check(activity.origin() + Duration::from_secs(seconds), TIMEOUTS)
    }

    fn wait(activity: &Activity, seconds: u64) -> Verdict {
        Verdict::Wait(activity.origin() + Duration::from_secs(seconds))
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_head_is_due_within_the_header_timeout_of_accept() {
        let activity = Activity::new(Instant::now());
        assert!(activity.mid_head());
        assert_eq!(at(&activity, 3), wait(&activity, 10));
        assert_eq!(at(&activity, 10), Verdict::HeaderExpired);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_keepalive_timeout_and_is_rechecked_meanwhile() {
        let activity = Activity::new(Instant::now());
        activity.request_started();
        tokio::time::advance(Duration::from_secs(2)).await;
        activity.request_finished();
        assert!(!activity.mid_head());
        assert_eq!(at(&activity, 3), wait(&activity, 13), "rechecked within one header timeout");
        assert_eq!(at(&activity, 70), wait(&activity, 77));
        assert_eq!(at(&activity, 77), Verdict::IdleExpired);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_request_never_expires() {
        let activity = Activity::new(Instant::now());
        activity.request_started();
        assert_eq!(at(&activity, 500), wait(&activity, 510));
        activity.bytes_arrived(); // its body, arriving slowly
        assert_eq!(at(&activity, 900), wait(&activity, 910));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_after_an_idle_period_start_the_header_timeout() {
        let activity = Activity::new(Instant::now());
        activity.request_started();
        activity.request_finished();
        tokio::time::advance(Duration::from_secs(30)).await;
        activity.bytes_arrived();
        assert!(activity.mid_head());
        tokio::time::advance(Duration::from_secs(5)).await;
        activity.bytes_arrived(); // more of the same head: the deadline does not move
        assert_eq!(at(&activity, 35), wait(&activity, 40));
        assert_eq!(at(&activity, 40), Verdict::HeaderExpired);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_streams_keep_the_connection_busy_until_the_last_one_ends() {
        let activity = Activity::new(Instant::now());
        activity.request_started();
        activity.request_started();
        tokio::time::advance(Duration::from_secs(100)).await;
        activity.request_finished();
        assert_eq!(at(&activity, 200), wait(&activity, 210), "one stream is still open");
        activity.request_finished();
        assert_eq!(at(&activity, 150), wait(&activity, 160));
        assert_eq!(at(&activity, 175), Verdict::IdleExpired);
    }
}
