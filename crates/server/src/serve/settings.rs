//! What the connection layer is configured with (`HTTP_*`, `METRICS_BIND_ADDR`), its validation,
//! and the default connection cap sized from the file-descriptor limit.
use crate::config::{Config, check, in_range};
use std::time::Duration;

/// hyper refuses a read buffer below 8 KiB, and the buffer is what bounds the request head.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// Connections the metrics listener takes at once: a few scrapers, never the main port's traffic.
pub const METRICS_MAX_CONNECTIONS: usize = 32;
/// Descriptors kept for everything but client connections (listeners, epoll, the SQLite files,
/// logs, the OTLP exporter, resolver sockets), on top of the database and Redis pools.
const RESERVED_DESCRIPTORS: u64 = 64;
/// When the limit cannot be read, assume the common soft default.
const ASSUMED_DESCRIPTOR_LIMIT: u64 = 1024;
/// A descriptor limit of "unlimited" still gets a finite cap.
const MAX_DEFAULT_CONNECTIONS: u64 = 1 << 20;

/// The connection layer's limits for one listener.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// From accept (or from the first byte of a later request) until its head is complete.
    pub header_read_timeout: Duration,
    /// How long a connection may sit between requests.
    pub keepalive_timeout: Duration,
    /// HTTP/2 PING interval; `None` turns pings off.
    pub http2_keepalive_interval: Option<Duration>,
    /// Request line plus headers (HTTP/1), header list (HTTP/2).
    pub max_header_bytes: usize,
    /// Connections open at once; past it new ones are accepted and closed at once.
    pub max_connections: usize,
}

/// Where the default connection cap came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSource {
    Configured,
    DescriptorLimit(u64),
    AssumedDescriptorLimit,
}

impl Config {
    /// The main listener's settings, and where its connection cap came from.
    pub fn http_settings(&self) -> (HttpSettings, CapSource) {
        let (max_connections, source) = match self.http_max_connections {
            Some(n) => (n, CapSource::Configured),
            None => match descriptor_limit() {
                Some(limit) => {
                    (default_max_connections(limit, self.reserved_descriptors()), CapSource::DescriptorLimit(limit))
                }
                None => (
                    default_max_connections(ASSUMED_DESCRIPTOR_LIMIT, self.reserved_descriptors()),
                    CapSource::AssumedDescriptorLimit,
                ),
            },
        };
        let settings = HttpSettings {
            header_read_timeout: Duration::from_secs_f64(self.http_header_read_timeout_seconds),
            keepalive_timeout: Duration::from_secs_f64(self.http_keepalive_timeout_seconds),
            http2_keepalive_interval: (self.http2_keepalive_interval_seconds > 0.0)
                .then(|| Duration::from_secs_f64(self.http2_keepalive_interval_seconds)),
            max_header_bytes: self.http_max_header_bytes,
            max_connections,
        };
        (settings, source)
    }

    /// The metrics listener: the same timeouts, its own small cap (scrapes still get through
    /// when the main port is full).
    pub fn metrics_http_settings(&self) -> HttpSettings {
        let (main, _) = self.http_settings();
        HttpSettings { max_connections: METRICS_MAX_CONNECTIONS, ..main }
    }

    /// Descriptors the rest of the process may need besides client connections.
    fn reserved_descriptors(&self) -> u64 {
        let pools = u64::from(self.database_pool_size)
            + u64::from(self.database_max_overflow)
            + u64::try_from(self.redis_pool_size).unwrap_or(u64::MAX);
        let metrics = if self.metrics_bind_addr.is_some() { METRICS_MAX_CONNECTIONS as u64 } else { 0 };
        RESERVED_DESCRIPTORS.saturating_add(pools).saturating_add(metrics)
    }

    pub(crate) fn validate_http(&self, errors: &mut Vec<String>) {
        check(
            errors,
            in_range(self.http_header_read_timeout_seconds, 0.1, 300.0),
            "HTTP_HEADER_READ_TIMEOUT_SECONDS: must be a number from 0.1 to 300",
        );
        check(
            errors,
            in_range(self.http_keepalive_timeout_seconds, 0.1, 3600.0),
            "HTTP_KEEPALIVE_TIMEOUT_SECONDS: must be a number from 0.1 to 3600",
        );
        check(
            errors,
            self.http2_keepalive_interval_seconds == 0.0
                || in_range(self.http2_keepalive_interval_seconds, 1.0, 3600.0),
            "HTTP2_KEEPALIVE_INTERVAL_SECONDS: must be 0 (no pings) or a number from 1 to 3600",
        );
        check(
            errors,
            (MIN_HEADER_BYTES..=1024 * 1024).contains(&self.http_max_header_bytes),
            "HTTP_MAX_HEADER_BYTES: must be 8192 to 1048576",
        );
        if let Some(n) = self.http_max_connections {
            check(errors, (1..=10_000_000).contains(&n), "HTTP_MAX_CONNECTIONS: must be 1 to 10000000");
        }
        if let Some(metrics) = self.metrics_bind_addr {
            check(
                errors,
                metrics.port() == 0 || metrics != self.bind_addr(),
                "METRICS_BIND_ADDR: must differ from BIND_ADDR (unset it to serve /metrics on the main port)",
            );
        }
    }
}

/// The soft `RLIMIT_NOFILE`: what `accept` runs into first.
pub fn descriptor_limit() -> Option<u64> {
    rlimit::Resource::NOFILE.get().ok().map(|(soft, _hard)| soft)
}

/// Client connections that fit under `limit` descriptors with `reserved` kept for the rest.
pub fn default_max_connections(limit: u64, reserved: u64) -> usize {
    let room = limit.min(MAX_DEFAULT_CONNECTIONS).saturating_sub(reserved);
    // a tiny limit still serves something; the reserve is an estimate, not a hard need
    usize::try_from(room.max(limit.min(MAX_DEFAULT_CONNECTIONS) / 2).max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_for_the_pools() {
        assert_eq!(default_max_connections(1024, 64 + 30 + 16), 914);
        assert_eq!(default_max_connections(1_048_576, 110), 1_048_466);
        assert_eq!(default_max_connections(u64::MAX, 110), (1 << 20) - 110);
        // a limit smaller than the reserve still allows half of it
        assert_eq!(default_max_connections(100, 110), 50);
        assert_eq!(default_max_connections(1, 110), 1);
    }

    #[test]
    fn defaults_match_the_readme() {
        let config = Config::from_pairs([("HTTP_MAX_CONNECTIONS", "500".to_owned())]).unwrap();
        let (settings, source) = config.http_settings();
        assert_eq!(settings.header_read_timeout, Duration::from_secs(10));
        assert_eq!(settings.keepalive_timeout, Duration::from_secs(75));
        assert_eq!(settings.http2_keepalive_interval, Some(Duration::from_secs(20)));
        assert_eq!(settings.max_header_bytes, 16 * 1024);
        assert_eq!((settings.max_connections, source), (500, CapSource::Configured));
        assert_eq!(config.metrics_http_settings().max_connections, METRICS_MAX_CONNECTIONS);
    }

    #[test]
    fn the_cap_follows_the_descriptor_limit_when_unset() {
        let config = Config::from_pairs([]).unwrap();
        let (settings, source) = config.http_settings();
        let limit = descriptor_limit().unwrap();
        assert_eq!(source, CapSource::DescriptorLimit(limit));
        // 20 + 10 database connections, 16 Redis connections, 64 for the rest
        assert_eq!(settings.max_connections, default_max_connections(limit, 110));
        let with_metrics = Config::from_pairs([("METRICS_BIND_ADDR", "127.0.0.1:9100".to_owned())]).unwrap();
        assert_eq!(with_metrics.http_settings().0.max_connections, default_max_connections(limit, 142));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("HTTP_HEADER_READ_TIMEOUT_SECONDS", "0"),
            ("HTTP_KEEPALIVE_TIMEOUT_SECONDS", "-1"),
            ("HTTP2_KEEPALIVE_INTERVAL_SECONDS", "0.5"),
            ("HTTP_MAX_HEADER_BYTES", "4096"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("METRICS_BIND_ADDR", "127.0.0.1:8000"),
            ("METRICS_BIND_ADDR", "not an address"),
        ] {
            let error = Config::from_pairs([(variable, value.to_owned())]).unwrap_err().to_string();
            assert!(error.contains(variable), "{variable}={value}: {error}");
        }
        let off = Config::from_pairs([("HTTP2_KEEPALIVE_INTERVAL_SECONDS", "0".to_owned())]).unwrap();
        assert_eq!(off.http_settings().0.http2_keepalive_interval, None);
    }
}
