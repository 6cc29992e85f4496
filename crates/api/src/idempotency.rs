//! `Idempotency-Key` for `POST`s that create or change something (agents, steps): the first
//! request with a key runs and its answer is kept for 24 h per user; a retry with the same key and
//! the same request gets that answer again (`Idempotent-Replayed: true`) without running twice; the
//! same key with a different request is a 422; a retry while the first is still running waits for
//! its answer. Answers of 5xx are not kept: the key can be used again.
use crate::digest::sha256_hex;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use freeagentics_store::IdempotencyClaim;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key is remembered.
const RETENTION: time::Duration = time::Duration::hours(24);
/// Longest accepted key; clients use UUIDs.
pub const MAX_KEY_CHARS: usize = 255;
/// Kept answers are bounded (a step's answer for a large model is the biggest).
const MAX_KEPT_BODY: usize = 4 * 1024 * 1024;
/// Response headers worth replaying.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];
/// A claim without an answer after this long was left by a process that died mid-request (longer
/// than any request may run: REQUEST_TIMEOUT_SECONDS is at most 600).
const ABANDONED_AFTER: time::Duration = time::Duration::minutes(11);
/// How often a retry checks whether the first request finished.
const POLL: Duration = Duration::from_millis(25);

/// The request's `Idempotency-Key`, if it sent one: 1–255 visible ASCII characters.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_CHARS && k.bytes().all(|b| b.is_ascii_graphic()));
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(ApiError::validation(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
        )),
    }
}

/// Runs `handle` at most once per (user, key): see the module documentation. `operation` and
/// `request` make the fingerprint a reused key is compared with.
pub async fn once<F, Fut>(
    state: &AppState,
    user: Uuid,
    key: Option<String>,
    operation: &str,
    request: &impl Serialize,
    handle: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let Some(key) = key else { return handle().await };
    let fingerprint = fingerprint(operation, request);
    let expires_at = OffsetDateTime::now_utc() + RETENTION;
    loop {
        match state.store.claim_idempotency_key(user, &key, &fingerprint, expires_at).await? {
            IdempotencyClaim::Claimed => return run_and_keep(state, user, &key, handle).await,
            IdempotencyClaim::Existing(record) if record.request_hash != fingerprint => {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    "was already used with a different request; use a new key for a new request",
                ));
            }
            IdempotencyClaim::Existing(record) => match record.status {
                Some(status) => return Ok(replay(status, &record.headers, record.body)),
                // claimed by a process that died before answering: take the key over
                None if OffsetDateTime::now_utc() - record.created_at > ABANDONED_AFTER => {
                    release(state, user, &key).await;
                }
                // the first request is still running: its answer is ours (the request deadline
                // bounds the wait); if it fails, its claim is released and this one may claim it
                None => tokio::time::sleep(POLL).await,
            },
        }
    }
}

fn fingerprint(operation: &str, request: &impl Serialize) -> String {
    let request = serde_json::to_vec(request).unwrap_or_default();
    sha256_hex(&[operation.as_bytes(), &request])
}

async fn run_and_keep<F, Fut>(state: &AppState, user: Uuid, key: &str, handle: F) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let response = match handle().await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let status = response.status();
    if status.is_server_error() {
        release(state, user, key).await;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT_BODY).await else {
        release(state, user, key).await;
        return Err(ApiError::internal("keeping an idempotent answer", anyhow::anyhow!("answer too large to keep")));
    };
    let mut kept = serde_json::Map::new();
    for name in &KEPT_HEADERS {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            kept.insert(name.as_str().to_owned(), value.into());
        }
    }
    let kept = serde_json::Value::Object(kept);
    if let Err(error) = state.store.finish_idempotency_key(user, key, status.as_u16(), &kept, &bytes).await {
        // the work is done and its answer goes out; a retry would run it again, so say so loudly
        tracing::error!(error = %error, "could not keep an idempotent answer");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

async fn release(state: &AppState, user: Uuid, key: &str) {
    if let Err(error) = state.store.abandon_idempotency_key(user, key).await {
        tracing::warn!(error = %error, "could not release an idempotency key");
    }
}

fn replay(status: u16, headers: &serde_json::Value, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(headers) = headers.as_object() {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) =
                (HeaderName::try_from(name.as_str()), value.as_str().map(HeaderValue::from_str))
            {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response.headers_mut().insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_str(value).unwrap());
            key_of(&headers)
        };
        assert_eq!(key_of(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("8f1c-4a").unwrap().as_deref(), Some("8f1c-4a"));
        assert!(with(&"k".repeat(255)).is_ok());
        assert!(with(&"k".repeat(256)).is_err());
        assert!(with("has space").is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint("create_agent", &serde_json::json!({"name": "a"}));
        assert_eq!(a, fingerprint("create_agent", &serde_json::json!({"name": "a"})));
        assert_ne!(a, fingerprint("create_agent", &serde_json::json!({"name": "b"})));
        assert_ne!(a, fingerprint("step_agent", &serde_json::json!({"name": "a"})));
    }
}
