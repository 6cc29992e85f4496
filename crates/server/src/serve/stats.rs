//! Each listener's connection count under its cap, and the metrics about it. The gauge and
//! counters are labelled by listener (`main`, `metrics`); `freeagentics_active_connections` is
//! the WebSocket gauge, not this.
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const OPEN: &str = "freeagentics_http_connections_open";
pub const MAX: &str = "freeagentics_http_connections_max";
pub const REFUSED: &str = "freeagentics_http_connections_refused_total";
pub const TIMEOUTS: &str = "freeagentics_http_connection_timeouts_total";

#[derive(Debug)]
pub struct ListenerStats {
    pub name: &'static str,
    max: usize,
    open: AtomicUsize,
    open_gauge: Gauge,
    pub refused: Counter,
    pub header_timeouts: Counter,
    pub idle_timeouts: Counter,
}

impl ListenerStats {
    /// Registers the listener's series at zero, so alerts and panels have them from the start.
    pub fn new(name: &'static str, max: usize) -> Self {
        describe();
        gauge!(MAX, "listener" => name).set(max as f64);
        let stats = ListenerStats {
            name,
            max,
            open: AtomicUsize::new(0),
            open_gauge: gauge!(OPEN, "listener" => name),
            refused: counter!(REFUSED, "listener" => name),
            header_timeouts: counter!(TIMEOUTS, "listener" => name, "kind" => "header"),
            idle_timeouts: counter!(TIMEOUTS, "listener" => name, "kind" => "idle"),
        };
        stats.open_gauge.set(0.0);
        for counter in [&stats.refused, &stats.header_timeouts, &stats.idle_timeouts] {
            counter.increment(0);
        }
        stats
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A slot for one more connection, or `None` at the cap.
    pub fn try_open(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.max).then_some(open + 1))
            .ok()?;
        self.open_gauge.increment(1.0);
        Some(Slot { stats: Arc::clone(self) })
    }
}

/// One open connection; dropping it (the socket closed) frees the slot.
#[derive(Debug)]
pub struct Slot {
    stats: Arc<ListenerStats>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::AcqRel);
        self.stats.open_gauge.decrement(1.0);
    }
}

fn describe() {
    describe_gauge!(OPEN, "Open client connections by listener (HTTP and upgraded WebSocket sockets)");
    describe_gauge!(MAX, "Connection cap by listener (HTTP_MAX_CONNECTIONS)");
    describe_counter!(REFUSED, "Connections closed at accept because the listener was at its cap");
    describe_counter!(
        TIMEOUTS,
        "Connections closed by the connection layer: kind=header (request head not complete in time), kind=idle (keep-alive expired)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_cap_and_come_back_when_dropped() {
        let stats = Arc::new(ListenerStats::new("test-slots", 2));
        let first = stats.try_open().unwrap();
        let _second = stats.try_open().unwrap();
        assert!(stats.try_open().is_none());
        assert_eq!(stats.open(), 2);
        drop(first);
        assert_eq!(stats.open(), 1);
        assert!(stats.try_open().is_some());
    }
}
