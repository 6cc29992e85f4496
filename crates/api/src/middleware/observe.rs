//! One span, one set of metrics and one log line per request. The route is the matched template
//! (`/api/v1/users/{id}`), never the raw path: raw paths explode label cardinality and leak ids.
//! The query string and headers are never recorded (tokens travel in both).
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Instant;
use tracing::field;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::policy::UNMATCHED_ROUTE;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// One request being observed. Dropping it measures and logs the request — including when the
/// client goes away and the request future is dropped mid-flight (recorded as status 499, nginx's
/// "client closed request"), so the in-flight gauge can never drift.
#[derive(Debug)]
pub struct Observation {
    started: Instant,
    method: &'static str,
    /// Moved into the response's headers when it is complete.
    request_id: Option<HeaderValue>,
    route: Route,
    span: tracing::Span,
    status: Option<u16>,
    /// Probes and scrapes: logged at debug.
    quiet: bool,
}

impl Observation {
    /// Starts observing: settles the request id and opens the span (continuing a W3C
    /// `traceparent`). Runs inside the router, which has put the matched route into the request.
    /// `quiet` requests (probes, scrapes) complete at debug level.
    pub fn start(request: &Request, quiet: bool) -> Self {
        let started = Instant::now();
        let request_id = request_id(request.headers());
        let method = method_label(request.method());
        let route = Route(request.extensions().get::<MatchedPath>().cloned());
        let span = tracing::info_span!(
            "http_request",
            otel.name = %format_args!("{method} {}", route.as_str()),
            otel.kind = "server",
            http.request.method = method,
            http.route = route.as_str(),
            request_id = id_text(&request_id),
            user_id = field::Empty,
            http.response.status_code = field::Empty,
            latency_ms = field::Empty,
            error.message = field::Empty,
        );
        // W3C traceparent from the caller (or the mesh) becomes this span's parent
        if request.headers().contains_key(&TRACEPARENT) {
            let parent =
                opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
            let _ = span.set_parent(parent);
        }
        IN_FLIGHT.increment(1.0);
        Observation { started, method, request_id: Some(request_id), route, span, status: None, quiet }
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub fn request_id(&self) -> &str {
        self.request_id.as_ref().map_or("", id_text)
    }

    /// The request was answered: echo its id; the measurement happens on drop.
    pub fn complete(mut self, mut response: Response) -> Response {
        self.status = Some(response.status().as_u16());
        if let Some(id) = self.request_id.take() {
            response.headers_mut().insert(REQUEST_ID.clone(), id);
        }
        response
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        IN_FLIGHT.decrement(1.0);
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let elapsed = self.started.elapsed();
        let route = self.route.as_str();
        record(self.method, route, status, elapsed.as_secs_f64());
        if self.span.is_disabled() {
            return;
        }
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        // on the span for traces; on the event below for the one log line per request
        self.span.record("http.response.status_code", status);
        self.span.record("latency_ms", latency_ms);
        self.span.in_scope(|| {
            if self.status.is_none() {
                tracing::info!(status, latency_ms, "request cancelled by the client");
            } else if status >= 500 {
                tracing::error!(status, latency_ms, "request completed");
            } else if self.quiet {
                // probes and scrapes arrive every few seconds per replica: keep them out of info logs
                tracing::debug!(status, latency_ms, "request completed");
            } else {
                tracing::info!(status, latency_ms, "request completed");
            }
        });
    }
}

/// The matched route template; none for requests no route matched.
#[derive(Debug)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
    }
}

static IN_FLIGHT: LazyLock<Gauge> = LazyLock::new(|| metrics::gauge!("http_requests_in_flight"));

type Series = (Counter, Histogram);
/// A fast hash is safe here: keys are route templates, methods and statuses, never client input.
type Fast = foldhash::fast::FixedState;
/// (method, status) → route template → handles.
type SeriesTable = HashMap<(&'static str, u16), HashMap<String, Series, Fast>, Fast>;

thread_local! {
    /// Each thread's handles for the series it has recorded. Resolving a handle from the registry
    /// (building the labelled key, hashing it) costs more than recording, and a shared table would
    /// bounce its lock and the handles' reference counts between cores on every request; the set
    /// of series is bounded by methods × route templates × statuses.
    static SERIES: RefCell<SeriesTable> = RefCell::default();
}

fn record(method: &'static str, route: &str, status: u16, seconds: f64) {
    SERIES.with_borrow_mut(|table| {
        let routes = table.entry((method, status)).or_default();
        if let Some((requests, duration)) = routes.get(route) {
            requests.increment(1);
            duration.record(seconds);
            return;
        }
        let labels = [
            ("method", metrics::SharedString::const_str(method)),
            ("route", metrics::SharedString::from(route.to_owned())),
            ("status", status_label(status)),
        ];
        let requests = metrics::counter!("http_requests_total", &labels);
        let duration = metrics::histogram!("http_request_duration_seconds", &labels);
        requests.increment(1);
        duration.record(seconds);
        routes.insert(route.to_owned(), (requests, duration));
    });
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
/// (so it cannot inject log noise), else a new UUID.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let supplied = headers.get(&REQUEST_ID).filter(|v| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if let Some(id) = supplied {
        return id.clone();
    }
    let mut text = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    // a UUID is valid header text
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A request id as text; both kinds are ASCII by construction.
fn id_text(id: &HeaderValue) -> &str {
    id.to_str().unwrap_or_default()
}
