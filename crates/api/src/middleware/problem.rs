use crate::ApiError;
use crate::error::{PROBLEM_CONTENT_TYPE, Problem};
use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Gives every error response the problem+json shape with `instance` = the request id: ours get
/// the id filled in, and bare statuses from the router or tower layers (404, 405, 408, 413) are
/// rebuilt from their status, keeping headers such as `Allow`.
pub fn render(request_id: &str, mut response: Response) -> Response {
    if let Some(mut problem) = response.extensions_mut().remove::<Problem>() {
        problem.instance = Some(request_id.to_owned());
        let status = response.status();
        return problem.into_response_with(status, response);
    }
    let status = response.status();
    // JSON error bodies are deliberate (readiness reports its checks with its 503); plain-text
    // or empty ones come from the router and tower layers
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE) || v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let error = ApiError::from_status(status);
    let headers = response.headers_mut();
    if let ApiError::Unavailable { retry_after, .. } | ApiError::TooManyRequests { retry_after, .. } = &error {
        headers.entry(header::RETRY_AFTER).or_insert(crate::error::retry_after_value(*retry_after));
    }
    if matches!(error, ApiError::Unauthorized(_)) {
        headers.entry(header::WWW_AUTHENTICATE).or_insert(HeaderValue::from_static("Bearer"));
    }
    let mut problem = error.to_problem();
    problem.instance = Some(request_id.to_owned());
    problem.into_response_with(error.status(), response)
}
