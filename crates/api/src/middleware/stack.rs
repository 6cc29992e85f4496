//! The middleware stack: one service, applied inside the router (`router::build_router`) so it
//! knows the matched route template, running every cross-cutting concern in a fixed order:
//!
//! 1. observe — request id, span, metrics and the access line; first, so every answer below
//!    (preflights, maintenance, 413s, 429s, timeouts, panics) is measured, logged and names its
//!    request;
//! 2. CORS — preflights answered here; the allow headers go on every other answer, refusals
//!    included, so a browser can read a 429 or 503;
//! 3. response finishing — problem+json with the request id, security headers;
//! 4. admission — maintenance mode, the body size by `Content-Length` (bodies without one are
//!    capped while they are read: `extract::json`), then the rate limits;
//! 5. the handler, under the request timeout (503) and a panic catcher (500 problem).
//!
//! Compression and path normalisation wrap the router from outside (`router::into_service`):
//! problem rendering replaces bodies and must never do so under a `Content-Encoding` header.
//!
//! One hand-written service rather than a chain of `from_fn` and tower-http layers: each layer
//! boundary cost an allocation, a boxed future and a clone of everything below it per request,
//! which made the stack cost more than the server itself (docs/PERFORMANCE.md). For the same
//! reason, requests on routes without a rate limit (probes, metrics) skip the async admission.
use crate::middleware::cors::Cors;
use crate::middleware::observe::Observation;
use crate::middleware::{admission, maintenance, problem, rate_limit, security_headers};
use crate::policy::{BodyLimit, Route, RouteKind, RouteTable};
use crate::{ApiError, AppState};
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;
use tracing::Instrument as _;

/// Builds [`Stack`] around the service it is applied to.
#[derive(Debug, Clone)]
pub struct StackLayer {
    shared: Arc<Shared>,
}

impl StackLayer {
    /// `table` is the router's route table: the policy of every route the stack wraps.
    pub fn new(state: AppState, table: RouteTable) -> Self {
        let cors = Cors::new(&state.config.cors_origins);
        StackLayer { shared: Arc::new(Shared { state, cors, table }) }
    }
}

impl<S> tower::Layer<S> for StackLayer {
    type Service = Stack<S>;

    fn layer(&self, inner: S) -> Stack<S> {
        Stack { inner, shared: Arc::clone(&self.shared) }
    }
}

#[derive(Debug)]
struct Shared {
    state: AppState,
    cors: Cors,
    table: RouteTable,
}

#[derive(Debug, Clone)]
pub struct Stack<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Stack<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = StackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let shared = &self.shared;
        let state = &shared.state;
        let route = Arc::clone(shared.table.route(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str)));
        let observation = Observation::start(&request, route.kind() == RouteKind::Probe);
        let span = observation.span().clone();
        let _entered = span.enter();
        let mut ending = Ending { observation, route, method: request.method().clone(), origin: None };

        // answers decided from the request head alone
        if let Some(preflight) = shared.cors.preflight(&request) {
            return StackFuture::ready(ending.seal(preflight));
        }
        ending.origin = shared.cors.allowed_origin(request.headers());
        if ending.route.kind() != RouteKind::Probe
            && let Some(refusal) = maintenance::refusal(state)
        {
            return StackFuture::ready(ending.finish(refusal));
        }
        let deadline = Deadline { after: state.config.request_timeout, retry_after: state.config.retry_after };
        let operation = ending.route.operation(&ending.method).map(|(operation, _)| *operation);
        let mut request = request;
        let limit = match operation.map(|op| op.body) {
            Some(BodyLimit::Inference) => {
                let limit = state.config.inference_max_body_bytes;
                // the one route family with its own limit tells `ValidJson` so
                request.extensions_mut().insert(crate::extract::RequestBodyLimit(limit));
                limit
            }
            _ => state.config.max_body_bytes,
        };
        if let Some(length) = declared_length(&request).filter(|length| *length > limit) {
            let too_large = ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
            if length > limit.saturating_mul(DRAIN_FACTOR) {
                return StackFuture::ready(ending.finish(too_large));
            }
            // read the body before answering: closing a connection with unread data makes the
            // kernel send a reset, and most clients then lose the 413 and report a network error
            let body = request.into_body();
            return StackFuture::boxed(in_span(&span, async move {
                let _ = tokio::time::timeout(deadline.after, drain(body)).await;
                Ok(ending.finish(too_large))
            }));
        }

        let class = ending.route.limit_class(&ending.method).filter(|_| state.rate_limits.enabled);
        let checks = operation.filter(admission::has_checks);
        if class.is_none() && checks.is_none() {
            // the common path for probes: straight to the router, nothing to await first
            return match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
                Ok(future) => StackFuture::routed(future, deadline, ending),
                Err(panic) => StackFuture::ready(ending.finish(panic_response(panic))),
            };
        }

        // the router is called only after admission: it takes a clone's place, the polled one goes
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(shared);
        StackFuture::boxed(in_span(&span, async move {
            let admitted = AssertUnwindSafe(async {
                let (request, decision) = match class {
                    None => (request, None),
                    Some(class) => match rate_limit::admit(&shared.state, class, request).await {
                        Err(refusal) => return refusal,
                        Ok((request, decision)) => (request, Some(decision)),
                    },
                };
                // authentication and authorization use the database: they run under the deadline
                let handled = async {
                    let request = match checks {
                        Some(operation) => match admission::check(&shared.state, &operation, request).await {
                            Ok(request) => request,
                            Err(error) => return Ok(error.into_response()),
                        },
                        None => request,
                    };
                    inner.call(request).await
                };
                let Ok(mut response) = StackFuture::under(Box::pin(handled), deadline).await;
                if let Some(decision) = decision {
                    rate_limit::set_headers(response.headers_mut(), &decision);
                }
                response
            })
            .catch_unwind()
            .await;
            Ok(ending.finish(admitted.unwrap_or_else(panic_response)))
        }))
    }
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The request's future, entering its span while it runs; without the wrapper when the span is
/// disabled (nothing would be recorded, and the wrapper is one more move and poll per request).
fn in_span(
    span: &tracing::Span,
    future: impl Future<Output = Result<Response, Infallible>> + Send + 'static,
) -> BoxedResponse {
    if span.is_disabled() { Box::pin(future) } else { Box::pin(future.instrument(span.clone())) }
}

/// The stack's future. Requests on unlimited routes (probes, metrics) are polled here directly,
/// without a boxed `async` block around them, and their deadline timer is only created if the
/// router does not answer on the first poll — most do, and a timer costs an allocation and a
/// shared reference count per request.
pub struct StackFuture<F> {
    state: State<F>,
}

enum State<F> {
    /// Answered without the router (preflight, maintenance, 413), or finished.
    Ready(Option<Response>),
    /// Waiting for the router.
    Routed {
        future: F,
        /// Armed at the first `Pending`, for the deadline counted from `started`.
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        started: std::time::Instant,
        deadline: Deadline,
        /// `None` when the caller finishes the response itself.
        ending: Option<Ending>,
    },
    /// Admission first (rate-limited routes), or a body to drain.
    Boxed(BoxedResponse),
}

impl<F> StackFuture<F> {
    fn ready(response: Response) -> Self {
        StackFuture { state: State::Ready(Some(response)) }
    }

    fn routed(future: F, deadline: Deadline, ending: Ending) -> Self {
        let started = ending.observation.started();
        StackFuture { state: State::Routed { future, timer: None, started, deadline, ending: Some(ending) } }
    }

    /// The router's future under the deadline (from now) and the panic catcher, unfinished.
    fn under(future: F, deadline: Deadline) -> Self {
        let started = std::time::Instant::now();
        StackFuture { state: State::Routed { future, timer: None, started, deadline, ending: None } }
    }

    fn boxed(future: BoxedResponse) -> Self {
        StackFuture { state: State::Boxed(future) }
    }
}

impl<F> std::fmt::Debug for StackFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackFuture").finish_non_exhaustive()
    }
}

impl<F> Future for StackFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (response, ending) = match &mut this.state {
            State::Ready(response) => {
                let response = response.take().unwrap_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("a finished request was polled again")).into_response()
                });
                return Poll::Ready(Ok(response));
            }
            State::Boxed(future) => return future.as_mut().poll(cx),
            State::Routed { future, timer, started, deadline, ending } => {
                let span = ending.as_ref().map_or_else(tracing::Span::none, |ending| ending.observation.span().clone());
                let _entered = span.enter();
                let response = match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *future).poll(cx))) {
                    Ok(Poll::Ready(Ok(response))) => response,
                    Ok(Poll::Ready(Err(never))) => match never {},
                    Err(panic) => panic_response(panic),
                    Ok(Poll::Pending) => {
                        let timer = timer.get_or_insert_with(|| {
                            Box::pin(tokio::time::sleep_until((*started + deadline.after).into()))
                        });
                        if timer.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        deadline.expired()
                    }
                };
                (response, ending.take())
            }
        };
        // the router's future is done (or abandoned at the deadline): drop it now
        this.state = State::Ready(None);
        Poll::Ready(Ok(match ending {
            Some(ending) => ending.finish(response),
            None => response,
        }))
    }
}

/// What every answer gets on its way out, whichever path produced it.
struct Ending {
    observation: Observation,
    /// The matched route's policy: its header set and its documented statuses.
    route: Arc<Route>,
    method: Method,
    /// The request's `Origin` when it is an allowed one.
    origin: Option<axum::http::HeaderValue>,
}

impl Ending {
    fn finish(mut self, mut response: Response) -> Response {
        Cors::apply(self.origin.take(), &mut response);
        self.seal(response)
    }

    /// Problem shape with the request id, security headers, the contract check, the request id
    /// header, measurement. Preflights come here directly: they carry their own CORS headers.
    fn seal(self, response: Response) -> Response {
        let mut response = problem::render(self.observation.request_id(), response);
        security_headers::apply(self.route.kind(), &mut response);
        self.route.check(&self.method, response.status().as_u16());
        self.observation.complete(response)
    }
}

/// The request timeout; a request that outlives it is answered 503 with `Retry-After`.
#[derive(Clone, Copy)]
struct Deadline {
    after: std::time::Duration,
    retry_after: std::time::Duration,
}

impl Deadline {
    /// The 503 for a request that outlived the deadline.
    fn expired(self) -> Response {
        ApiError::Unavailable {
            detail: "the request could not be completed in time; retry later".to_owned(),
            retry_after: self.retry_after,
        }
        .into_response()
    }
}

/// Bodies announced up to this many times the limit are read and discarded before the 413 (see
/// `Stack::call`); larger ones are refused at once.
const DRAIN_FACTOR: usize = 4;

/// Reads a body to its end, keeping nothing.
async fn drain(body: axum::body::Body) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    while let Some(Ok(_)) = body.frame().await {}
}

/// The body size a request announces; unparsable values are left to hyper, which rejects them.
fn declared_length(request: &Request) -> Option<usize> {
    request.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The panic message stays in the log; the client gets the generic 500.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PROBLEM_CONTENT_TYPE;
    use std::time::Duration;

    const DEADLINE: Deadline = Deadline { after: Duration::from_secs(30), retry_after: Duration::from_secs(7) };

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// What the stack answers for this handler future, with nothing else around it.
    async fn under_deadline(handler: impl Future<Output = Result<Response, Infallible>> + Send + 'static) -> Response {
        let Ok(response) = StackFuture::under(Box::pin(handler), DEADLINE).await;
        response
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_generic_500_problem() {
        let response = under_deadline(async {
            if DEADLINE.after > Duration::ZERO {
                panic!("secret internal detail");
            }
            Ok(StatusCode::OK.into_response())
        })
        .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        let body = body_text(response).await;
        assert!(!body.contains("secret internal detail"), "the panic message stays in the log: {body}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_past_the_deadline_becomes_503_with_retry_after() {
        let response = under_deadline(async {
            tokio::time::sleep(Duration::from_secs(31)).await;
            Ok(StatusCode::OK.into_response())
        })
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_within_the_deadline_is_answered_as_is() {
        let response = under_deadline(async {
            tokio::time::sleep(Duration::from_secs(29)).await;
            Ok(StatusCode::CREATED.into_response())
        })
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[test]
    fn declared_length_reads_content_length_only_when_it_is_a_number() {
        let with = |value: &str| {
            Request::builder().header(header::CONTENT_LENGTH, value).body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(declared_length(&with("1048577")), Some(1_048_577));
        assert_eq!(declared_length(&with("lots")), None);
        assert_eq!(declared_length(&Request::new(axum::body::Body::empty())), None);
    }
}
