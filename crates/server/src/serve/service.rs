//! The application as hyper calls it: the axum service (with `ConnectInfo` already added by its
//! make-service), wrapped so the connection's [`Activity`] knows when a request starts and when
//! its response is finished — the response body carries the marker, so a response still
//! streaming keeps the connection busy.
use super::activity::Activity;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt as _;
use tower::util::Oneshot;

#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Tracked<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = TrackedFuture<Oneshot<S, Request>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let busy = Busy::start(&self.activity);
        TrackedFuture { inner: self.inner.clone().oneshot(request.map(Body::new)), busy: Some(busy) }
    }
}

/// One request in flight; dropping it finishes the request.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.request_started();
        Busy(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

pin_project_lite::pin_project! {
    /// The application's future; its answer's body takes over the in-flight marker.
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<hyper::Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(never)) => match never {},
            Poll::Ready(Ok(response)) => {
                let busy = this.busy.take();
                Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, _busy: busy })))
            }
        }
    }
}

/// The response body; the request counts as finished when hyper drops it (sent or abandoned).
#[derive(Debug)]
pub struct TrackedBody {
    inner: Body,
    _busy: Option<Busy>,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
