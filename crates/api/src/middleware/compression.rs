//! Response compression (gzip, negotiated by `Accept-Encoding`) for bodies where it pays. It wraps
//! the whole stack from outside: problem rendering replaces bodies and must never do so under a
//! `Content-Encoding` header.
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{Response, header};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tower::{Layer, Service};
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::{Compression, CompressionBody, CompressionLayer};

/// Below this a gzip stream saves little or nothing, and most API answers are this small.
pub const MIN_COMPRESS_BYTES: u64 = 1024;

/// tower-http's default rules (not images, gRPC or event streams), applied only to bodies of at
/// least [`MIN_COMPRESS_BYTES`]. The size is checked first: it is the cheapest test and rules out
/// almost every response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B: HttpBody>(&self, response: &Response<B>) -> bool {
        let small = response.body().size_hint().exact().is_some_and(|bytes| bytes < MIN_COMPRESS_BYTES);
        !small && DefaultPredicate::new().should_compress(response)
    }
}

/// Negotiates compression with tower-http's layer, and skips it for clients that accept no
/// encoding at all (most API clients): they would get the same bytes, after the negotiation and a
/// wrapped, re-boxed body.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompressLayer;

impl<S: Clone> Layer<S> for CompressLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Compress<S> {
        Compress { plain: inner.clone(), negotiated: CompressionLayer::new().compress_when(Compressible).layer(inner) }
    }
}

#[derive(Clone)]
pub struct Compress<S> {
    plain: S,
    negotiated: Compression<S, Compressible>,
}

impl<S> std::fmt::Debug for Compress<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compress").finish_non_exhaustive()
    }
}

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CompressFuture<S::Future, <Compression<S, Compressible> as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        ready!(self.plain.poll_ready(cx))?;
        self.negotiated.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.headers().contains_key(header::ACCEPT_ENCODING) {
            CompressFuture::Negotiated(self.negotiated.call(request))
        } else {
            CompressFuture::Plain(self.plain.call(request))
        }
    }
}

#[derive(Debug)]
pub enum CompressFuture<P, N> {
    Plain(P),
    Negotiated(N),
}

impl<P, N> Future for CompressFuture<P, N>
where
    P: Future<Output = Result<Response<Body>, Infallible>> + Unpin,
    N: Future<Output = Result<Response<CompressionBody<Body>>, Infallible>> + Unpin,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            CompressFuture::Plain(future) => Pin::new(future).poll(cx),
            CompressFuture::Negotiated(future) => {
                let response: Response<CompressionBody<Body>> = ready!(Pin::new(future).poll(cx))?;
                Poll::Ready(Ok(response.map(Body::new)))
            }
        }
    }
}
