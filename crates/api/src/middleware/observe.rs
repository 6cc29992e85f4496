//! One span, one set of metrics and one log line per request. The route is the matched template
//! (`/api/v1/users/{id}`), never the raw path: raw paths explode label cardinality and leak ids.
//! The query string and headers are never recorded (tokens travel in both).
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::{Instrument, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const REQUEST_ID: &str = "x-request-id";
/// Label for requests no route matched, so 404 scans cannot create new series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        request_id = %request_id,
        user_id = field::Empty,
        http.response.status_code = field::Empty,
    );
    // W3C traceparent from the caller (or the mesh) becomes this span's parent
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let _ = span.set_parent(parent);

    let mut guard = Completion { started, method, route, span: span.clone(), status: None };
    metrics::gauge!("http_requests_in_flight").increment(1.0);
    let response = next.run(request).instrument(span).await;
    guard.status = Some(response.status().as_u16());
    response
}

/// Measures and logs a request when it ends — including when the client goes away and the
/// request future is dropped mid-flight (recorded as status 499, nginx's "client closed request"),
/// so the in-flight gauge can never drift.
struct Completion {
    started: Instant,
    method: &'static str,
    route: String,
    span: tracing::Span,
    status: Option<u16>,
}

impl Drop for Completion {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let elapsed = self.started.elapsed();
        let labels =
            [("method", self.method.to_owned()), ("route", self.route.clone()), ("status", status.to_string())];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
        self.span.record("http.response.status_code", status);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let quiet = self.route.starts_with("/health") || self.route == "/metrics";
        self.span.in_scope(|| {
            if self.status.is_none() {
                tracing::info!(status, latency_ms, "request cancelled by the client");
            } else if status >= 500 {
                tracing::error!(status, latency_ms, "request completed");
            } else if quiet {
                // probes and scrapes arrive every few seconds per replica: keep them out of info logs
                tracing::debug!(status, latency_ms, "request completed");
            } else {
                tracing::info!(status, latency_ms, "request completed");
            }
        });
    }
}

/// Status recorded for requests whose client disconnected before the response.
const CLIENT_CLOSED: u16 = 499;

/// Methods outside the standard set share one label, bounding cardinality.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Longest client-supplied request id we keep; longer or odd ones are replaced by our own.
const MAX_REQUEST_ID: usize = 128;

/// Drops an incoming `x-request-id` that is too long or has characters outside a safe set, so a
/// client cannot inject log noise through it; `SetRequestIdLayer` then generates one.
pub async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let valid = request.headers().get(REQUEST_ID).is_none_or(|v| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if !valid {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}
