//! A minimal circuit breaker for Redis calls: after a failure, callers skip Redis for a cool-down,
//! so an unreachable (or silently dropping) Redis costs one timeout per cool-down instead of one
//! per request. The first call after the cool-down probes Redis again.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Breaker {
    epoch: Instant,
    cooldown: Duration,
    /// Milliseconds since `epoch` until which Redis is skipped; 0 = closed.
    open_until: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self { epoch: Instant::now(), cooldown, open_until: AtomicU64::new(0) }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(crate) fn is_open(&self) -> bool {
        self.now() < self.open_until.load(Ordering::Relaxed)
    }

    pub(crate) fn record_failure(&self) {
        self.open_until.store(self.now() + self.cooldown.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_success(&self) {
        self.open_until.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_for_the_cooldown() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert!(!breaker.is_open());
        breaker.record_failure();
        assert!(breaker.is_open());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!breaker.is_open());
        breaker.record_failure();
        breaker.record_success();
        assert!(!breaker.is_open());
    }
}
