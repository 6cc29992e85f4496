//! Prometheus scrape endpoint.
use crate::observability::process;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Prometheus text exposition (version 0.0.4) of every service metric plus `process_*`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 404, description = "Served on its own listener instead (`METRICS_BIND_ADDR`)"),
    ))]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    if state.config.metrics_on_own_listener {
        return ApiError::NotFound.into_response();
    }
    scrape(&state)
}

/// The exposition itself; the metrics listener's only route.
pub fn scrape(state: &AppState) -> Response {
    // gauges sampled at scrape time: cheap, and always current
    let pool = state.store.pool_stats();
    state.caches.report();
    metrics::gauge!("freeagentics_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("freeagentics_db_pool_connections", "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!("freeagentics_db_pool_max_connections").set(f64::from(pool.max));
    let mut body = state.metrics.render();
    body.push_str(&process::render());
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
