//! Response bodies shared by several resources.
use crate::auth::Principal;
use freeagentics_core::User;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A role of the policy table (the schema of role fields and parameters).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    Researcher,
    AgentManager,
    Observer,
}

/// A user as clients see it: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    #[schema(value_type = RoleName)]
    pub role: String,
    pub is_active: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView::from(&Principal::from(user))
    }
}

impl From<&Principal> for UserView {
    fn from(user: &Principal) -> Self {
        UserView {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// `ETag` of a versioned resource.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A versioned resource's answer: `body` as JSON with its `ETag`, and a `Location` when given (a
/// 201 names what it created).
pub fn versioned(
    status: axum::http::StatusCode,
    body: &impl Serialize,
    version: i64,
    location: Option<&str>,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse as _;
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Checks `If-Match` against the resource's current version (RFC 9110 §13.1.1: strong comparison,
/// so weak tags never match; `*` matches any existing resource; a list matches if any entry does).
/// Returns the version to require in the conditional write, or 412.
pub fn check_if_match(headers: &axum::http::HeaderMap, current: i64) -> Result<Option<i64>, crate::ApiError> {
    let mut values = headers.get_all(axum::http::header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let tags: Vec<String> =
        values.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(|t| t.trim().to_owned()).collect();
    let matches = tags.iter().any(|t| t == "*" || *t == etag(current));
    if matches {
        Ok(Some(current))
    } else {
        Err(crate::ApiError::PreconditionFailed(format!(
            "If-Match does not match the current ETag {}; reload and retry",
            etag(current)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header::IF_MATCH};

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(check_if_match(&HeaderMap::new(), 3).unwrap(), None);
        assert_eq!(check_if_match(&with("\"3\""), 3).unwrap(), Some(3));
        assert_eq!(check_if_match(&with("\"1\", \"3\""), 3).unwrap(), Some(3));
        assert_eq!(check_if_match(&with("*"), 3).unwrap(), Some(3));
        assert!(check_if_match(&with("W/\"3\""), 3).is_err(), "weak tags never match");
        assert!(check_if_match(&with("\"2\""), 3).is_err());
        assert!(check_if_match(&with("garbage"), 3).is_err());
    }
}
