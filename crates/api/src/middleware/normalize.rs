//! Trailing-slash normalisation. It must run before routing, so it wraps the router from outside
//! (`router::into_service`); layers added with `Router::layer` run after the route is chosen.
use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// `/api/v1/agents/` is `/api/v1/agents`. The docs UI is exempt: it serves its assets relative
/// to `/api/docs/` and redirects the bare path there.
pub fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() <= 1 || !path.ends_with('/') || path.starts_with(crate::paths::DOCS_PATH) {
        return request;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let rebuilt = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    if let Ok(path_and_query) = rebuilt.parse::<PathAndQuery>() {
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}
