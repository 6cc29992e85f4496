use crate::{ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use freeagentics_core::ValidationErrors;
use serde::de::DeserializeOwned;

/// A route's own body limit, left in the request by the stack (only routes whose policy has one).
#[derive(Debug, Clone, Copy)]
pub struct RequestBodyLimit(pub usize);

/// Input-specific rules run after deserialisation (lengths, formats, ranges).
pub trait Validate {
    fn validate(&self) -> Result<(), ValidationErrors>;
}

/// A JSON body that was well-formed, of the right type, within the size limit, free of unknown
/// fields (request types use `deny_unknown_fields`) and valid by its own rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<T> FromRequest<AppState> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let value: T = read_json(req, state).await?;
        value.validate()?;
        Ok(ValidJson(value))
    }
}

/// The body as `T`: JSON media type, size limit, then deserialisation.
async fn read_json<T: DeserializeOwned>(req: Request, state: &AppState) -> Result<T, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".to_owned()));
    }
    let limit = req.extensions().get::<RequestBodyLimit>().map_or(state.config.max_body_bytes, |l| l.0);
    let body = read_body(req.into_body(), limit).await?;
    refuse_array(&body)?;
    parse(&body)
}

/// Every request body of this API is an object, but serde's derived `Deserialize` also reads a
/// struct from an array, field by field in declaration order (`["ada", "ada@example.com", …]`
/// would register an account, `[]` would be an empty logout): a body that is an array is refused
/// before it gets there.
fn refuse_array(body: &[u8]) -> Result<(), ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Err(ApiError::validation("body", "must be a JSON object, not an array")),
        _ => Ok(()),
    }
}

/// For optional fields (`#[serde(default, deserialize_with = "no_null")]`): absent is `None`, an
/// explicit `null` is refused. The OpenAPI document says these fields are not nullable, and a
/// `null` that silently meant "unchanged" would hide client bugs.
pub fn no_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// For optional integer fields: like [`no_null`], and a number with no fractional part (`10.0`)
/// is the integer it equals — JSON Schema's `integer` means the value, not how it is written.
pub fn whole_number<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // within ±2^53 every integral f64 is exact, so the cast below loses nothing
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!("invalid value: {number}, expected a whole number"))),
    }
}

/// The whole body, refused with 413 as soon as it passes `limit` bytes. Declared lengths over the
/// limit never get here (the stack answers them first); this catches chunked bodies and bodies
/// longer than they announced, without buffering more than the limit.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large =
            std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge("request body exceeds the size limit".to_owned())
        } else {
            ApiError::BadRequest("could not read the request body".to_owned())
        }
    })
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

/// A body that may be absent: no `Content-Type` and no bytes, or the JSON `null`, means `None`;
/// anything else must be valid JSON like [`ValidJson`].
impl<T> axum::extract::OptionalFromRequest<AppState> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        let value: Option<T> = read_json(req, state).await?;
        match value {
            Some(value) => value.validate().map(|()| Some(ValidJson(value))).map_err(ApiError::from),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_bodies_are_refused_whatever_their_contents() {
        for body in [&b"[]"[..], b"  \n [\"ada\", 3]", b"[{}]"] {
            assert!(matches!(refuse_array(body), Err(ApiError::Validation(_))), "{body:?}");
        }
        for body in [&b"{}"[..], b" {\"a\": [1]}", b"null", b"", b"5"] {
            assert!(refuse_array(body).is_ok(), "{body:?}");
        }
    }

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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "no_null")]
        name: Option<String>,
    }

    #[test]
    fn optional_fields_may_be_absent_but_not_null() {
        assert_eq!(parse::<Patch>(br#"{}"#).unwrap().name, None);
        assert_eq!(parse::<Patch>(br#"{"name":"a"}"#).unwrap().name.as_deref(), Some("a"));
        assert_eq!(fields(parse::<Patch>(br#"{"name":null}"#).unwrap_err()), ["name"]);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Sized {
        #[serde(default, deserialize_with = "whole_number")]
        size: Option<i64>,
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(parse::<Sized>(br#"{}"#).unwrap().size, None);
        assert_eq!(parse::<Sized>(br#"{"size":10}"#).unwrap().size, Some(10));
        assert_eq!(parse::<Sized>(br#"{"size":10.0}"#).unwrap().size, Some(10));
        assert_eq!(parse::<Sized>(br#"{"size":-3e2}"#).unwrap().size, Some(-300));
        for bad in [&br#"{"size":10.5}"#[..], br#"{"size":1e300}"#, br#"{"size":null}"#, br#"{"size":"10"}"#] {
            assert_eq!(fields(parse::<Sized>(bad).unwrap_err()), ["size"], "{}", String::from_utf8_lossy(bad));
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

    #[tokio::test]
    async fn a_body_is_read_up_to_the_limit_and_refused_one_byte_past_it() {
        let body = |len: usize| axum::body::Body::from(vec![b'x'; len]);
        assert_eq!(read_body(body(64), 64).await.unwrap().len(), 64);
        assert!(matches!(read_body(body(65), 64).await, Err(ApiError::PayloadTooLarge(_))));
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
