use crate::ApiError;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Path parameters, typed strictly: a value of the wrong type (an id that is not a UUID) is a 422
/// naming the parameter, as the OpenAPI document says, instead of axum's plain-text 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state).await.map(|Path(value)| ValidPath(value)).map_err(rejection)
    }
}

fn rejection(rejection: PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        return ApiError::internal("reading path parameters", anyhow::anyhow!(rejection.body_text()));
    };
    match error.into_kind() {
        ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
            ApiError::validation(key, format!("must be a {}", type_name(expected_type)))
        }
        // uuid's own message names the offending character; "a UUID" is what clients need
        ErrorKind::DeserializeError { key, message, .. } if message.contains("UUID") => {
            ApiError::validation(key, "must be a UUID")
        }
        ErrorKind::DeserializeError { key, message, .. } => ApiError::validation(key, message),
        ErrorKind::InvalidUtf8InPathParam { key } => ApiError::validation(key, "must be valid UTF-8"),
        other => ApiError::validation("path", other.to_string()),
    }
}

/// `u32` → `non-negative integer`; Rust type names mean little to API clients.
fn type_name(rust: &str) -> &str {
    match rust {
        "u8" | "u16" | "u32" | "u64" | "usize" => "non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "integer",
        "f32" | "f64" => "number",
        "bool" => "boolean (`true` or `false`)",
        other => other,
    }
}
