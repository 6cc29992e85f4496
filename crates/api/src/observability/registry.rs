//! Every metric the service exports, declared in one place with its help text. Counters the
//! runbook's panels and alerts query are registered at zero on start-up so their series exist
//! before the first event (a missing series silently breaks `rate()` and `absent()`).
use freeagentics_shared_state::cache::Outcome;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Seconds. Explicit so `histogram_quantile` over `_bucket` works (without buckets the exporter
/// renders a summary) and 0.5 s — the runbook's HighResponseTime threshold — is a bucket edge.
pub const HTTP_DURATION_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
pub const INFERENCE_DURATION_BUCKETS: [f64; 10] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// Writes per batch (`store/src/write_batch.rs`); a batch holds 32 at most.
pub const WRITE_BATCH_BUCKETS: [f64; 6] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];

/// Seconds; the cache's staleness bound is about one.
pub const CACHE_LAG_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once per process and returns its handle; later calls (several
/// test servers in one process) share it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), &HTTP_DURATION_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("freeagentics_db_query_duration_seconds".into()),
                        &HTTP_DURATION_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("freeagentics_db_write_batch_size".into()),
                        &WRITE_BATCH_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("freeagentics_cache_invalidation_lag_seconds".into()),
                        &CACHE_LAG_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("freeagentics_inference_duration_seconds".into()),
                        &INFERENCE_DURATION_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // Fails only if another recorder is installed, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            describe_all();
            handle
        })
        .clone()
}

fn describe_all() {
    describe_counter!("http_requests_total", "HTTP requests by method, matched route and status");
    describe_histogram!("http_request_duration_seconds", Unit::Seconds, "HTTP request latency by route");
    describe_histogram!(
        "freeagentics_db_query_duration_seconds",
        Unit::Seconds,
        "Store operation latency by operation"
    );
    describe_histogram!(
        "freeagentics_db_write_batch_size",
        "Writes committed together in one statement, by operation (agent creates on PostgreSQL)"
    );
    describe_gauge!("http_requests_in_flight", "HTTP requests being served");
    describe_gauge!("freeagentics_build_info", "Build metadata; always 1");
    describe_gauge!("freeagentics_ready", "1 when this replica is ready for traffic (DB reachable, not draining)");
    describe_gauge!("freeagentics_maintenance_mode", "1 while the maintenance file says true");
    describe_gauge!("freeagentics_db_pool_connections", "Database pool connections by state (idle, in_use)");
    describe_gauge!("freeagentics_db_pool_max_connections", "Database pool size limit");
    describe_counter!(
        "freeagentics_db_pool_acquire_timeouts_total",
        "Requests answered 503 because the pool was saturated"
    );
    describe_gauge!("freeagentics_redis_up", "1 when the last Redis probe succeeded (only with REDIS_URL)");
    describe_counter!("freeagentics_redis_errors_total", "Redis operations that failed and were degraded around");
    describe_counter!("freeagentics_rate_limited_total", "Requests refused by the rate limiter, by class and backend");
    describe_gauge!(
        "freeagentics_rate_limit_fallback_active",
        "1 while Redis is down and the in-process limiter is used"
    );
    describe_counter!(
        "freeagentics_cache_requests_total",
        "Cache reads by cache and result (hit_local, hit_redis, miss, error, bypass)"
    );
    describe_histogram!(
        "freeagentics_cache_invalidation_lag_seconds",
        Unit::Seconds,
        "Time from a cache invalidation's publication to its arrival at this replica"
    );
    describe_gauge!("freeagentics_cache_local_entries", "Entries in a cache's in-process layer");
    describe_gauge!("freeagentics_cache_local_weight_bytes", "Serialised bytes held by a cache's in-process layer");
    describe_counter!("freeagentics_user_registrations_total", "Accounts registered");
    describe_counter!("freeagentics_logins_total", "Login attempts by outcome");
    describe_counter!("freeagentics_token_refreshes_total", "Refresh-token exchanges by outcome");
    describe_counter!("freeagentics_agent_interactions_total", "Agent steps, by template");
    describe_gauge!("freeagentics_agents", "Agents by status (a total over every replica, refreshed every 15 s)");
    describe_histogram!("freeagentics_inference_duration_seconds", Unit::Seconds, "Active-inference step time");
    describe_counter!(
        "freeagentics_coalition_formations_total",
        "Coalition formation requests by strategy and outcome (formed, dry_run, rejected, conflict, error)"
    );
    describe_histogram!(
        "freeagentics_coalition_formation_duration_seconds",
        Unit::Seconds,
        "Time a formation strategy took, by strategy"
    );
    describe_gauge!(
        "freeagentics_coalitions",
        "Coalitions by status (a total over every replica, refreshed every 15 s)"
    );
    describe_gauge!("freeagentics_active_connections", "Open WebSocket connections on this replica");
    describe_counter!(
        "freeagentics_events_published_total",
        "Outbox events published to the event bus, by topic kind (counted once, by the replica that published)"
    );
}

/// Series that must exist from the first scrape, at zero (issue #4: panels and alerts always have
/// a series once their feature is built).
pub fn register_baseline(version: &str, git_sha: &str) {
    gauge!("freeagentics_build_info", "version" => version.to_owned(), "git_sha" => git_sha.to_owned()).set(1.0);
    gauge!("http_requests_in_flight").set(0.0);
    gauge!("freeagentics_maintenance_mode").set(0.0);
    gauge!("freeagentics_rate_limit_fallback_active").set(0.0);
    counter!("freeagentics_db_pool_acquire_timeouts_total").absolute(0);
    counter!("freeagentics_redis_errors_total").absolute(0);
    counter!("freeagentics_user_registrations_total").absolute(0);
    gauge!("freeagentics_active_connections").increment(0.0);
    for kind in crate::realtime::TOPIC_KINDS {
        counter!("freeagentics_events_published_total", "topic_kind" => kind).increment(0);
    }
    for template in ["basic-explorer", "goal-optimizer", "pattern-predictor", "gmn_agent"] {
        counter!("freeagentics_agent_interactions_total", "template" => template).absolute(0);
    }
    for outcome in ["success", "failure", "throttled"] {
        counter!("freeagentics_logins_total", "outcome" => outcome).absolute(0);
    }
    for outcome in ["success", "reuse_detected", "invalid"] {
        counter!("freeagentics_token_refreshes_total", "outcome" => outcome).absolute(0);
    }
    for strategy in freeagentics_core::coalition::Strategy::ALL {
        for outcome in ["formed", "dry_run", "rejected", "conflict", "error"] {
            counter!("freeagentics_coalition_formations_total", "strategy" => strategy.as_str(), "outcome" => outcome)
                .absolute(0);
        }
    }
    for cache in ["principal", "denylist", "agent", "coalition"] {
        for result in Outcome::ALL {
            counter!("freeagentics_cache_requests_total", "cache" => cache, "result" => result.as_str()).absolute(0);
        }
    }
    // kept in this process only: never a shared hit, and reading it cannot fail
    let kept = crate::agents::step_state::CACHE_NAME;
    for result in [Outcome::HitLocal, Outcome::Miss, Outcome::Bypass] {
        counter!("freeagentics_cache_requests_total", "cache" => kept, "result" => result.as_str()).absolute(0);
    }
}
