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
//! The state is one atomic word (HTTP/2 streams finish on other tasks), and stamps come from
//! `quanta`'s clock (a TSC read where available: a fraction of `Instant::now` plus the duration
//! arithmetic, twice per request). The connection's driver wakes at the earliest deadline that
//! could apply, asks [`Activity::check`], and re-arms; it never needs waking when a phase moves a
//! deadline later.
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Low bits: requests in flight. HTTP/2 allows a few hundred streams; 2^22 is far above.
const BUSY_BITS: u32 = 22;
const BUSY: u64 = (1 << BUSY_BITS) - 1;
/// Set while a request head is being read (or awaited right after accept), clear when idle.
const HEAD: u64 = 1 << BUSY_BITS;
/// High bits: milliseconds since accept at which the current head or idle period began.
const SINCE_SHIFT: u32 = BUSY_BITS + 1;
const MAX_MILLIS: u64 = u64::MAX >> SINCE_SHIFT;

/// The two timeouts the phases are bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// What the driver should do after its timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet: sleep this long and ask again.
    Wait(Duration),
    /// A request head was not complete in time: drop the connection.
    HeaderExpired,
    /// Idle too long between requests: close it gracefully.
    IdleExpired,
}

#[derive(Debug)]
pub struct Activity {
    clock: quanta::Clock,
    /// `clock.raw()` at accept.
    origin: u64,
    state: AtomicU64,
    /// The connection's driver, woken for shutdown.
    pub(super) waker: AtomicWaker,
}

impl Activity {
    /// A connection accepted now: its first request head is due within the header timeout.
    pub fn new(clock: quanta::Clock) -> Self {
        let origin = clock.raw();
        Activity { clock, origin, state: AtomicU64::new(pack(0, true)), waker: AtomicWaker::new() }
    }

    /// A request reached the service.
    pub fn request_started(&self) {
        self.state.fetch_add(1, Ordering::Relaxed);
    }

    /// A response finished (written, or abandoned with its connection).
    pub fn request_finished(&self) {
        let now = self.millis();
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
        let now = self.millis();
        let _ = self.state.compare_exchange(state, pack(now, true), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the connection is part-way through a request head nobody has answered: closing it
    /// then should read what the client is still sending (see `io::TrackedIo`).
    pub fn mid_head(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        state & BUSY == 0 && state & HEAD != 0
    }

    pub fn check(&self, timeouts: Timeouts) -> Verdict {
        decide(self.state.load(Ordering::Relaxed), self.millis(), timeouts)
    }

    /// Milliseconds since accept.
    fn millis(&self) -> u64 {
        (self.clock.delta_as_nanos(self.origin, self.clock.raw()) / 1_000_000).min(MAX_MILLIS)
    }
}

fn pack(since_millis: u64, head: bool) -> u64 {
    (since_millis << SINCE_SHIFT) | if head { HEAD } else { 0 }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(MAX_MILLIS)
}

/// The verdict for `state` at `now` (milliseconds since accept). While requests are in flight
/// nothing expires, but the driver still looks again within one header timeout: a head that
/// starts after they finish must be caught in time, and no one wakes the driver when it starts.
/// For the same reason an idle connection is looked at again no later than one header timeout
/// from now.
fn decide(state: u64, now: u64, timeouts: Timeouts) -> Verdict {
    let recheck = millis(timeouts.header);
    if state & BUSY != 0 {
        return Verdict::Wait(timeouts.header);
    }
    let since = state >> SINCE_SHIFT;
    let (deadline, expired) = if state & HEAD != 0 {
        (since.saturating_add(millis(timeouts.header)), Verdict::HeaderExpired)
    } else {
        (since.saturating_add(millis(timeouts.idle)), Verdict::IdleExpired)
    };
    if now >= deadline {
        return expired;
    }
    Verdict::Wait(Duration::from_millis((deadline - now).min(recheck)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const TIMEOUTS: Timeouts = Timeouts { header: Duration::from_secs(10), idle: Duration::from_secs(75) };

    /// An activity on a mock clock at 0 s, and the handle that moves the clock.
    fn activity() -> (Activity, Arc<quanta::Mock>) {
        let (clock, mock) = quanta::Clock::mock();
        (Activity::new(clock), mock)
    }

    fn advance(mock: &quanta::Mock, seconds: u64) {
        mock.increment(Duration::from_secs(seconds));
    }

    fn wait(seconds: u64) -> Verdict {
        Verdict::Wait(Duration::from_secs(seconds))
    }

    #[test]
    fn the_first_head_is_due_within_the_header_timeout_of_accept() {
        let (activity, clock) = activity();
        assert!(activity.mid_head());
        advance(&clock, 3);
        assert_eq!(activity.check(TIMEOUTS), wait(7));
        advance(&clock, 7);
        assert_eq!(activity.check(TIMEOUTS), Verdict::HeaderExpired);
    }

    #[test]
    fn an_idle_connection_expires_after_the_keepalive_timeout_and_is_rechecked_meanwhile() {
        let (activity, clock) = activity();
        activity.request_started();
        advance(&clock, 2);
        activity.request_finished();
        assert!(!activity.mid_head());
        advance(&clock, 1);
        assert_eq!(activity.check(TIMEOUTS), wait(10), "rechecked within one header timeout");
        advance(&clock, 67);
        assert_eq!(activity.check(TIMEOUTS), wait(7), "at 70 s: due at 77 s");
        advance(&clock, 7);
        assert_eq!(activity.check(TIMEOUTS), Verdict::IdleExpired);
    }

    #[test]
    fn a_long_request_never_expires() {
        let (activity, clock) = activity();
        activity.request_started();
        advance(&clock, 500);
        assert_eq!(activity.check(TIMEOUTS), wait(10));
        activity.bytes_arrived(); // its body, arriving slowly
        advance(&clock, 400);
        assert_eq!(activity.check(TIMEOUTS), wait(10));
    }

    #[test]
    fn bytes_after_an_idle_period_start_the_header_timeout() {
        let (activity, clock) = activity();
        activity.request_started();
        activity.request_finished();
        advance(&clock, 30);
        activity.bytes_arrived();
        assert!(activity.mid_head());
        advance(&clock, 5);
        activity.bytes_arrived(); // more of the same head: the deadline does not move
        assert_eq!(activity.check(TIMEOUTS), wait(5));
        advance(&clock, 5);
        assert_eq!(activity.check(TIMEOUTS), Verdict::HeaderExpired);
    }

    #[test]
    fn concurrent_streams_keep_the_connection_busy_until_the_last_one_ends() {
        let (activity, clock) = activity();
        activity.request_started();
        activity.request_started();
        advance(&clock, 100);
        activity.request_finished();
        advance(&clock, 100);
        assert_eq!(activity.check(TIMEOUTS), wait(10), "one stream is still open");
        activity.request_finished();
        advance(&clock, 50);
        assert_eq!(activity.check(TIMEOUTS), wait(10));
        advance(&clock, 25);
        assert_eq!(activity.check(TIMEOUTS), Verdict::IdleExpired);
    }
}
