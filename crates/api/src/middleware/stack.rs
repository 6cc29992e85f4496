//! The middleware stack, outermost first. The order matters and is decided only here:
//! - request id first, so every later layer, log line and problem body can name the request;
//! - `observe` outside everything that can answer early (CORS, maintenance, timeouts) so those
//!   responses are measured and logged too;
//! - compression outside `problem::render`, because the renderer replaces bodies and must never
//!   swap a body under a `Content-Encoding` header;
//! - the panic catcher inside the renderer, so a panic's 500 gets its request id.
use crate::AppState;
use crate::middleware::{maintenance, observe, problem, rate_limit, security_headers};
use crate::{ApiConfig, ApiError};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::any::Any;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let request_id = HeaderName::from_static(observe::REQUEST_ID);
    let stack = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(observe::sanitize_request_id))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(cors(config))
        .layer(axum::middleware::from_fn(security_headers::apply))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(problem::render))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), maintenance::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    router.layer(stack).layer(DefaultBodyLimit::max(config.max_body_bytes))
}

fn cors(config: &ApiConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let expose = [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "etag",
        "location",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers(expose.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600))
}

/// The panic message stays in the log; the client gets the generic 500.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
