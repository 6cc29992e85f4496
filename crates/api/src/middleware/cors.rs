//! CORS for the browser frontend: origins from `CORS_ORIGINS` (exact match, never `*`, because
//! credentials are allowed), preflights answered before routing, maintenance and rate limits.
//! Written out rather than taken from tower-http so it sits inside the one stack service (see
//! `stack.rs`) and sends its headers only to allowed origins instead of on every response.
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Headers a browser may send on a cross-origin request.
const ALLOW_HEADERS: &str = "authorization, content-type, if-match, if-none-match, idempotency-key, x-request-id";
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Response headers a frontend script may read.
const EXPOSE_HEADERS: &str = "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, \
    x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, etag, location";
/// Browsers may cache a preflight this long (seconds).
const MAX_AGE: &str = "600";
/// A preflight's answer depends on what it asks for, not only on the origin.
const PREFLIGHT_VARY: &str = "origin, access-control-request-method, access-control-request-headers";

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Box<[HeaderValue]>,
}

impl Cors {
    /// Entries that are not valid header values can never match an `Origin`, so they are dropped
    /// (configuration validation reports them at start-up).
    pub fn new(origins: &[String]) -> Self {
        Cors { origins: origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect() }
    }

    /// The `Origin` of the request when it is an allowed one.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        headers.get(header::ORIGIN).filter(|origin| self.origins.contains(origin)).cloned()
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`);
    /// `None` for every other request. A disallowed origin gets an answer without the allow
    /// headers, which the browser treats as a refusal.
    pub fn preflight(&self, request: &Request) -> Option<Response> {
        let headers = request.headers();
        if request.method() != Method::OPTIONS
            || !headers.contains_key(header::ORIGIN)
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let out = response.headers_mut();
        out.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        if let Some(origin) = self.allowed_origin(headers) {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            out.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        }
        Some(response)
    }

    /// Headers for an actual (non-preflight) response from an allowed origin. (`Vary: origin`
    /// goes on every response with the security headers.)
    pub fn apply(allowed_origin: Option<HeaderValue>, response: &mut Response) {
        let headers = response.headers_mut();
        if let Some(origin) = allowed_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn cors() -> Cors {
        Cors::new(&["http://localhost:3000".to_owned()])
    }

    fn preflight(origin: &str) -> Request {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/users")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn preflight_from_an_allowed_origin_gets_the_allow_headers() {
        let response = cors().preflight(&preflight("http://localhost:3000")).unwrap();
        let headers = response.headers();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:3000");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert!(headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("PATCH"));
        assert!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("authorization"));
        assert_eq!(headers[header::VARY], PREFLIGHT_VARY);
    }

    #[test]
    fn preflight_from_another_origin_gets_no_allow_headers() {
        // a prefix or suffix of an allowed origin is another origin
        for origin in ["https://evil.example", "http://localhost:3000.evil.example", "http://localhost:300", "null"] {
            let response = cors().preflight(&preflight(origin)).unwrap();
            assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "{origin}");
            assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS), "{origin}");
        }
    }

    #[test]
    fn options_without_preflight_headers_is_routed() {
        let plain = Request::builder().method(Method::OPTIONS).uri("/health").body(Body::empty()).unwrap();
        assert!(cors().preflight(&plain).is_none());
        let no_method = Request::builder()
            .method(Method::OPTIONS)
            .uri("/health")
            .header(header::ORIGIN, "http://localhost:3000")
            .body(Body::empty())
            .unwrap();
        assert!(cors().preflight(&no_method).is_none());
    }

    #[test]
    fn actual_responses_expose_headers_only_to_allowed_origins() {
        let mut allowed = StatusCode::OK.into_response();
        Cors::apply(Some(HeaderValue::from_static("http://localhost:3000")), &mut allowed);
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:3000");
        assert!(allowed.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap().contains("x-request-id"));
        let mut other = StatusCode::OK.into_response();
        Cors::apply(None, &mut other);
        assert!(!other.headers().contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        assert!(!other.headers().contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS));
    }
}
