//! One span, one set of metrics and one log line per request. The route is the matched template
//! (`/api/v1/users/{id}`), never the raw path: raw paths explode label cardinality and leak ids.
//! The query string and headers are never recorded (tokens travel in both).
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;
use tracing::{Instrument, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const REQUEST_ID: &str = "x-request-id";
/// Label for requests no route matched, so 404 scans cannot create new series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (request_id, request_id_header) = request_id(&mut request);
    let method = method_label(request.method());
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
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
    if request.headers().contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
        let _ = span.set_parent(parent);
    }

    let mut guard = Completion { started, method, route, span: span.clone(), status: None };
    IN_FLIGHT.increment(1.0);
    let mut response = next.run(request).instrument(span).await;
    guard.status = Some(response.status().as_u16());
    response.headers_mut().insert(REQUEST_ID, request_id_header);
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
        IN_FLIGHT.decrement(1.0);
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let elapsed = self.started.elapsed();
        let (requests, duration) = series(self.method, &self.route, status);
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
        self.span.record("http.response.status_code", status);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let route = self.route.as_str();
        let quiet = route.starts_with("/health") || route == "/metrics";
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

static IN_FLIGHT: LazyLock<Gauge> = LazyLock::new(|| metrics::gauge!("http_requests_in_flight"));

type Series = (Counter, Histogram);
/// (method, status) → route template → handles.
type SeriesTable = HashMap<(&'static str, u16), HashMap<String, Series>>;

/// Metric handles per (method, status) and route. Resolving a handle from the registry (building
/// the labelled key, hashing it) costs more than recording; the set of series is bounded by
/// methods × route templates × statuses, so each is resolved once.
static SERIES: LazyLock<RwLock<SeriesTable>> = LazyLock::new(Default::default);

fn series(method: &'static str, route: &str, status: u16) -> Series {
    let read = SERIES.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = read.get(&(method, status)).and_then(|routes| routes.get(route)) {
        return found.clone();
    }
    drop(read);
    let labels = [
        ("method", metrics::SharedString::const_str(method)),
        ("route", metrics::SharedString::from(route.to_owned())),
        ("status", status_label(status)),
    ];
    let created = (
        metrics::counter!("http_requests_total", &labels),
        metrics::histogram!("http_request_duration_seconds", &labels),
    );
    let mut write = SERIES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    write.entry((method, status)).or_default().entry(route.to_owned()).or_insert(created).clone()
}

/// Status codes as label values without formatting one per request.
fn status_label(status: u16) -> metrics::SharedString {
    const COMMON: [(u16, &str); 16] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (301, "301"),
        (303, "303"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (503, "503"),
        (499, "499"),
    ];
    COMMON
        .iter()
        .find(|(code, _)| *code == status)
        .map_or_else(|| metrics::SharedString::from(status.to_string()), |(_, s)| metrics::SharedString::const_str(s))
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

/// The request's id: the client's `x-request-id` when it is short and made of safe characters
/// (so it cannot inject log noise), else a new UUID. Written back into the request so every
/// later layer and the problem renderer see the same one.
fn request_id(request: &mut Request) -> (String, HeaderValue) {
    let supplied = request.headers().get(REQUEST_ID).and_then(|v| {
        let bytes = v.as_bytes();
        let safe = !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        safe.then(|| v.to_str().ok().map(str::to_owned)).flatten()
    });
    let id = supplied.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // both forms are valid header text by construction (checked above, or a UUID)
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID, header.clone());
    (id, header)
}
