use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

/// API responses are data, never documents: nothing may load, frame or embed them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The vendored Swagger UI needs its own scripts and styles (and inline styles), nothing remote.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The headers the original service sent (HSTS, CSP, nosniff, frame deny, referrer and permissions
/// policy), plus `Cache-Control: no-store` on API routes so tokens and personal data are never cached.
pub fn apply(path: &str, response: &mut Response) {
    let is_docs = path.starts_with("/api/docs");
    let is_api = path.starts_with("/api/") && !is_docs;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(header::CONTENT_SECURITY_POLICY, if is_docs { DOCS_CSP } else { API_CSP });
    if is_api {
        set(header::CACHE_CONTROL, "no-store");
    }
}
