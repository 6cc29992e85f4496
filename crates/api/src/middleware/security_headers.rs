use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use std::sync::LazyLock;

use crate::policy::RouteKind;

/// API responses are data, never documents: nothing may load, frame or embed them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The vendored Swagger UI needs its own scripts and styles (and inline styles), nothing remote.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Room for the set plus what handlers and the rest of the stack add, so no response's map grows.
const CAPACITY: usize = 24;

/// One finished header map per path class, cloned for each response: a clone copies entries
/// without hashing them, where inserting the set one by one hashed and probed each header and
/// grew every response's map (docs/PERFORMANCE.md).
static TEMPLATES: LazyLock<[HeaderMap; 3]> =
    LazyLock::new(|| [RouteKind::Api, RouteKind::Docs, RouteKind::Probe].map(template));

fn template(kind: RouteKind) -> HeaderMap {
    // the headers the original service sent (HSTS, CSP, nosniff, frame deny, referrer and
    // permissions policy), and COOP
    let common = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    let mut headers = HeaderMap::with_capacity(CAPACITY);
    for (name, value) in common {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let csp = if kind == RouteKind::Docs { DOCS_CSP } else { API_CSP };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    // API answers carry tokens and personal data, probe answers are live state: never cached
    if kind != RouteKind::Docs {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // responses differ by origin (the CORS allow headers): caches must keep them apart
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    headers
}

/// The security headers, `Cache-Control: no-store` on API and probe routes so tokens and personal data are
/// never cached, and `Vary: origin`. A header the response already has wins over the set's.
pub fn apply(kind: RouteKind, response: &mut Response) {
    let index = match kind {
        RouteKind::Api => 0,
        RouteKind::Docs => 1,
        RouteKind::Probe => 2,
    };
    let mut headers = TEMPLATES[index].clone();
    // `extend` replaces the values of a name it meets, so the response's own ones win
    headers.extend(std::mem::take(response.headers_mut()));
    *response.headers_mut() = headers;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse as _;

    #[test]
    fn every_kind_gets_the_set_and_only_the_docs_may_be_cached() {
        for (kind, csp, no_store) in
            [(RouteKind::Api, API_CSP, true), (RouteKind::Docs, DOCS_CSP, false), (RouteKind::Probe, API_CSP, true)]
        {
            let path = format!("{kind:?}");
            let mut response = axum::http::StatusCode::OK.into_response();
            apply(kind, &mut response);
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], csp, "{path}");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
            assert_eq!(headers[header::VARY], "origin", "{path}");
            assert_eq!(headers.contains_key(header::CACHE_CONTROL), no_store, "{path}");
        }
    }

    #[test]
    fn the_response_own_headers_win_and_multiple_values_survive() {
        let mut response = axum::http::StatusCode::OK.into_response();
        let own = response.headers_mut();
        own.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
        own.append(header::VARY, HeaderValue::from_static("origin, access-control-request-method"));
        own.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        own.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        apply(RouteKind::Api, &mut response);
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
        assert_eq!(headers.get_all(header::VARY).iter().count(), 1);
        assert_eq!(headers[header::VARY], "origin, access-control-request-method");
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2);
        assert_eq!(headers[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000; includeSubDomains");
    }
}
