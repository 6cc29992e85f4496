//! The middleware stack, outermost first. The order matters and is decided only here:
//! - `observe` first: it settles the request id (so every later layer, log line and problem body
//!   can name the request) and sits outside everything that can answer early (CORS, maintenance,
//!   timeouts) so those responses are measured and logged too;
//! - compression outside `problem::render`, because the renderer replaces bodies and must never
//!   swap a body under a `Content-Encoding` header;
//! - the panic catcher inside the renderer, so a panic's 500 gets its request id.
use crate::AppState;
use crate::middleware::{maintenance, observe, problem, rate_limit, security_headers};
use crate::{ApiConfig, ApiError};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let stack = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(cors(config))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(finish))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    router.layer(stack).layer(DefaultBodyLimit::max(config.max_body_bytes))
}

// Concerns that sit next to each other share one `from_fn` layer: each such layer clones the stack
// below it for every request, so fewer boundaries measurably cost less (see docs/PERFORMANCE.md).

/// Response finishing: the problem+json shape (with the request id) and the security headers.
async fn finish(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(observe::REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = request.uri().path().to_owned();
    let mut response = problem::render(request_id, next.run(request).await);
    security_headers::apply(&path, &mut response);
    response
}

/// Admission: maintenance mode first (nothing is served or counted), then the rate limits.
async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(refusal) = maintenance::refusal(&state, request.uri().path()) {
        return refusal;
    }
    rate_limit::limit(state, request, next).await
}

fn cors(config: &ApiConfig) -> CorsLayer {
    // a predicate over a shared list: the layer is cloned per request, and a plain list would be
    // copied each time
    let origins: std::sync::Arc<[HeaderValue]> =
        config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
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
        .allow_origin(AllowOrigin::predicate(move |origin, _| origins.contains(origin)))
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
