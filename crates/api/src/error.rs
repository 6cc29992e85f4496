//! One error type for every handler and middleware, rendered as RFC 7807 problem+json.
//!
//! `IntoResponse` renders a complete body and also stores the [`Problem`] in the response
//! extensions; `middleware::problem` then fills `instance` with the request id and converts any
//! error response that did not come from here (axum's 404/405, tower-http's 408/413) into the same
//! shape, so no plain-text rejection ever reaches a client.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use freeagentics_core::{FieldError, ValidationErrors};
use freeagentics_store::StoreError;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
const TYPE_BASE: &str = "https://freeagentics.com/problems/";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict { detail: String, errors: Vec<FieldError> },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: Duration },
    #[error("{detail}")]
    Unavailable { detail: String, retry_after: Duration },
    /// Logged with its whole source chain (on the request's log line and span); the client sees a
    /// generic message and the request id.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The wire shape (RFC 7807 + `errors[]` for field problems).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorBody>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// An internal error with its cause and what we were doing (`context`).
    pub fn internal(context: &'static str, cause: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(cause.into().context(context))
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::Unavailable { detail: detail.into(), retry_after: Duration::from_secs(5) }
    }

    /// The error for a bare status produced outside our handlers (router, tower-http layers).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge("request body is too large".to_owned()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType("unsupported content type".to_owned()),
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ApiError::unavailable("the request could not be completed in time; retry later")
            }
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized("authentication required".to_owned()),
            StatusCode::FORBIDDEN => ApiError::Forbidden("forbidden".to_owned()),
            StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests {
                detail: "too many requests".to_owned(),
                retry_after: Duration::from_secs(1),
            },
            s if s.is_client_error() => ApiError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_owned()),
            _ => ApiError::Internal(anyhow::anyhow!("a layer answered {status} without a body")),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PreconditionRequired(_) => "precondition-required",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Validation(_) => "validation-error",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::Unavailable { .. } => "service-unavailable",
            ApiError::Internal(_) => "internal-error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::NotFound => "the requested resource does not exist".to_owned(),
            ApiError::MethodNotAllowed => "this method is not supported on this resource".to_owned(),
            ApiError::Validation(_) => "the request has invalid fields; see `errors`".to_owned(),
            ApiError::Internal(_) => "an unexpected error occurred; quote the instance id when reporting it".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) | ApiError::Conflict { errors, .. } => {
                errors.iter().map(|e| FieldErrorBody { field: e.field.clone(), message: e.message.clone() }).collect()
            }
            _ => Vec::new(),
        };
        Problem {
            kind: format!("{TYPE_BASE}{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            errors,
        }
    }
}

impl Problem {
    pub fn into_response_with(self, status: StatusCode, mut response: Response) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        *response.status_mut() = status;
        *response.body_mut() = axum::body::Body::from(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        headers.remove(header::CONTENT_LENGTH);
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            // The one place internal causes are logged, with their whole chain (`{:#}`); the span
            // carries the request id, and keeps the cause for traces.
            let chain = format!("{cause:#}");
            tracing::Span::current().record("error.message", chain.as_str());
            tracing::error!(error.cause = %chain, "request failed");
        }
        let mut response = Response::new(axum::body::Body::empty());
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after, .. } | ApiError::Unavailable { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, retry_after_value(*retry_after));
            }
            _ => {}
        }
        self.to_problem().into_response_with(status, response)
    }
}

/// Whole seconds, rounded up (a client that waits exactly this long must find the limit lifted),
/// and at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

pub(crate) fn retry_after_value(wait: Duration) -> HeaderValue {
    HeaderValue::from(retry_after_seconds(wait))
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors.into_vec())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict { .. } => {
                let field = error.conflict_field().unwrap_or("resource").to_owned();
                ApiError::Conflict {
                    detail: format!("a resource with this {field} already exists"),
                    errors: vec![FieldError::new(field, "already taken")],
                }
            }
            StoreError::VersionMismatch => {
                ApiError::PreconditionFailed("the resource changed since you read it; reload and retry".to_owned())
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "database unavailable");
                ApiError::unavailable("the database is temporarily unavailable; retry later")
            }
            StoreError::PoolExhausted => {
                metrics::counter!("freeagentics_db_pool_acquire_timeouts_total").increment(1);
                ApiError::unavailable("the database is busy or unreachable; retry later")
            }
            StoreError::InvalidValue(cause) => {
                tracing::warn!(error.cause = %cause, "the database refused a value validation let through");
                ApiError::validation("body", "contains a value that cannot be stored")
            }
            StoreError::Refused(refusal) => refused(refusal),
            other @ StoreError::Other(_) => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// A coalition rule's refusal: 404 for what does not exist, 422 for what the request got wrong,
/// 409 for what the coalition's current state does not allow.
fn refused(refusal: freeagentics_store::CoalitionRefusal) -> ApiError {
    use freeagentics_core::coalition::MembershipError;
    use freeagentics_store::CoalitionRefusal as R;
    match refusal {
        R::Membership(MembershipError::NotMember) | R::UnknownObjective(_) => ApiError::NotFound,
        R::UnknownAgent(_) => ApiError::validation("agent_id", "no such agent"),
        R::MissingCapabilities(missing) => {
            ApiError::validation("required_capabilities", format!("not held by any member: {}", missing.join(", ")))
        }
        conflict @ (R::Join(_) | R::Membership(_) | R::Status(_) | R::Dissolved | R::SizeBelowMembers { .. }) => {
            ApiError::Conflict { detail: conflict.to_string(), errors: Vec::new() }
        }
    }
}

/// A load the two-level cache shared between concurrent waiters failed for all of them with one
/// error: each gets the answer its kind calls for (503 for an outage, not 500), as if it were its own.
impl From<Arc<StoreError>> for ApiError {
    fn from(error: Arc<StoreError>) -> Self {
        let owned = match Arc::try_unwrap(error) {
            Ok(error) => error,
            Err(shared) => match &*shared {
                StoreError::NotFound => StoreError::NotFound,
                StoreError::Conflict { constraint } => StoreError::Conflict { constraint: constraint.clone() },
                StoreError::VersionMismatch => StoreError::VersionMismatch,
                StoreError::Unavailable(cause) => StoreError::Unavailable(cause.clone()),
                StoreError::PoolExhausted => StoreError::PoolExhausted,
                StoreError::InvalidValue(cause) => StoreError::InvalidValue(cause.clone()),
                StoreError::Refused(refusal) => StoreError::Refused(refusal.clone()),
                // the cause stays reachable through the shared error
                StoreError::Other(_) => StoreError::Other(Box::new(shared)),
            },
        };
        owned.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_store_failure_keeps_its_status() {
        let outage = Arc::new(StoreError::Unavailable("connection refused".to_owned()));
        let _other_waiter = Arc::clone(&outage);
        assert!(matches!(ApiError::from(outage), ApiError::Unavailable { .. }), "503, not 500");
        let missing = Arc::new(StoreError::NotFound);
        let _other_waiter = Arc::clone(&missing);
        assert!(matches!(ApiError::from(missing), ApiError::NotFound));
        let broken = Arc::new(StoreError::other("disk on fire"));
        let _other_waiter = Arc::clone(&broken);
        let ApiError::Internal(cause) = ApiError::from(broken) else { panic!("500 for anything else") };
        assert!(format!("{cause:#}").contains("disk on fire"), "the cause is kept: {cause:#}");
        assert!(matches!(ApiError::from(Arc::new(StoreError::VersionMismatch)), ApiError::PreconditionFailed(_)));
    }
}
