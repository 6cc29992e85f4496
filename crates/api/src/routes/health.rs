//! Kubernetes probes. Liveness never touches a dependency (a database outage must not restart
//! every pod); readiness checks them and turns 503 while the database is down or the replica drains.
use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok` while the process serves HTTP.
    pub status: &'static str,
    pub service: String,
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `healthy`, `degraded` (Redis down or database pool saturated: requests still work) or
    /// `unhealthy` (503).
    pub status: &'static str,
    pub version: String,
    pub uptime_seconds: u64,
    /// True after SIGTERM while in-flight requests finish.
    pub draining: bool,
    pub maintenance: bool,
    pub checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub database: DatabaseCheck,
    pub redis: RedisCheck,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseCheck {
    /// `up`, `saturated` (every pooled connection busy: still ready) or `down`.
    pub status: &'static str,
    /// `postgres` or `sqlite`.
    pub backend: &'static str,
    pub latency_ms: f64,
    pub pool: PoolBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PoolBody {
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedisCheck {
    /// `up`, `down`, or `disabled` (embedded profile: in-process implementations).
    pub status: &'static str,
    /// `redis` or `in-process`.
    pub backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// Liveness: the process is up and serving HTTP. Also at `/health/live`.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = Liveness)))]
pub async fn get_liveness(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], state.liveness.clone()).into_response()
}

/// The liveness body: it cannot change while the process runs, so it is rendered once, at start-up,
/// and each probe shares it (`App::liveness`) instead of copying and serializing the same strings.
pub fn liveness_body(config: &crate::ApiConfig) -> axum::body::Bytes {
    let liveness = Liveness { status: "ok", service: config.service_name.clone(), version: config.version.clone() };
    serde_json::to_vec(&liveness).unwrap_or_default().into()
}

/// Readiness: database and Redis checks with latencies and pool statistics. Also at `/health/ready`.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses(
        (status = 200, description = "Ready: `healthy`, or `degraded` when only Redis is down", body = Readiness),
        (status = 503, description = "Not ready: database down or replica draining", body = Readiness),
    ))]
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    let budget = state.config.health_check_timeout;
    // both probes at once: readiness latency is the slower one, not the sum
    let redis_probe = async {
        match &state.redis {
            Some(redis) => Some(timed(budget, redis.ping()).await),
            None => None,
        }
    };
    let ((ping, database_latency), redis_probe) = tokio::join!(timed(budget, state.store.ping()), redis_probe);
    // A saturated pool is load, not an outage: if every replica left the load balancer because
    // its pool was busy, load would become a full outage. Stay ready and say so.
    let pool = state.store.pool_stats();
    let database = match ping {
        Some(Ok(())) => "up",
        // sqlx also times out acquiring when it cannot connect at all: only a full, busy pool
        // is saturation
        Some(Err(freeagentics_store::StoreError::PoolExhausted)) if pool.size >= pool.max && pool.idle == 0 => {
            "saturated"
        }
        _ => "down",
    };
    let database_up = database != "down";
    let redis = match redis_probe {
        None => RedisCheck { status: "disabled", backend: "in-process", latency_ms: None },
        Some((result, latency)) => {
            let up = matches!(result, Some(Ok(_)));
            metrics::gauge!("freeagentics_redis_up").set(if up { 1.0 } else { 0.0 });
            RedisCheck { status: if up { "up" } else { "down" }, backend: "redis", latency_ms: Some(latency) }
        }
    };
    let draining = state.lifecycle.is_draining();
    let ready = database_up && !draining;
    let status = match (ready, redis.status, database) {
        (false, _, _) => "unhealthy",
        (true, "down", _) | (true, _, "saturated") => "degraded",
        (true, _, _) => "healthy",
    };
    metrics::gauge!("freeagentics_ready").set(if ready { 1.0 } else { 0.0 });
    let body = Readiness {
        status,
        version: state.config.version.clone(),
        uptime_seconds: state.started.elapsed().as_secs(),
        draining,
        maintenance: state.lifecycle.in_maintenance(),
        checks: Checks {
            database: DatabaseCheck {
                status: database,
                backend: state.store.backend().as_str(),
                latency_ms: database_latency,
                pool: PoolBody { size: pool.size, idle: pool.idle, in_use: pool.in_use, max: pool.max },
            },
            redis,
        },
    };
    let mut response = Json(body).into_response();
    if !ready {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(state.config.retry_after.as_secs().max(1)));
    }
    response
}

/// Runs a probe under the budget: its result (`None` when it timed out) and its latency in
/// milliseconds, rounded to 0.01.
async fn timed<T>(budget: Duration, probe: impl Future<Output = T>) -> (Option<T>, f64) {
    let started = Instant::now();
    let result = tokio::time::timeout(budget, probe).await.ok();
    (result, (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0)
}
