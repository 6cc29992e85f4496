use crate::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use freeagentics_core::ValidationErrors;
use serde::de::DeserializeOwned;

/// Input-specific rules run after deserialisation (lengths, formats, ranges).
pub trait Validate {
    fn validate(&self) -> Result<(), ValidationErrors>;
}

/// A JSON body that was well-formed, of the right type, within the size limit, free of unknown
/// fields (request types use `deny_unknown_fields`) and valid by its own rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".to_owned()));
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body exceeds the size limit".to_owned())
            } else {
                ApiError::BadRequest("could not read the request body".to_owned())
            }
        })?;
        let value: T = parse(&body)?;
        value.validate()?;
        Ok(ValidJson(value))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 naming the field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // a missing field is reported at its parent's path: name the field itself
                let (field, message) = match field_in_message(&message) {
                    Some(name) if path == "." => (name.to_owned(), strip_position(&message)),
                    Some(name) if path == name || path.ends_with(&format!(".{name}")) => {
                        (path, strip_position(&message))
                    }
                    Some(name) => (format!("{path}.{name}"), strip_position(&message)),
                    None => (if path == "." { "body".to_owned() } else { path }, strip_position(&message)),
                };
                ApiError::validation(field, message)
            }
            _ => ApiError::BadRequest(format!("malformed JSON: {}", strip_position(&inner.to_string()))),
        }
    })
}

fn field_in_message(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

/// A body that may be absent: no `Content-Type` and no bytes means `None`; anything else must be
/// valid JSON like [`ValidJson`].
impl<S, T> axum::extract::OptionalFromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: u8,
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn classifies_json_problems() {
        assert!(matches!(parse::<Body>(b"{\"name\":"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse::<Body>(b"not json"), Err(ApiError::BadRequest(_))));
        assert_eq!(fields(parse::<Body>(br#"{"name":"a","role":"admin"}"#).unwrap_err()), ["role"]);
        assert_eq!(fields(parse::<Body>(br#"{}"#).unwrap_err()), ["name"]);
        assert_eq!(fields(parse::<Body>(br#"{"name":"a","inner":{"size":300}}"#).unwrap_err()), ["inner.size"]);
        assert_eq!(fields(parse::<Body>(br#"{"name":"a","inner":{"size":1,"x":1}}"#).unwrap_err()), ["inner.x"]);
        assert!(parse::<Body>(br#"{"name":"a"}"#).is_ok());
    }

    #[test]
    fn accepts_json_media_types_only() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }
}
