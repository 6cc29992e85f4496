//! Idempotency-Key records: a request's fingerprint and, once it finished, the response to replay.
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// What the first request sent (method, path and body, hashed): a reuse of the key with a
    /// different request is refused.
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub status: Option<u16>,
    /// Response headers to replay (`Location`, `ETag`, content type), as a JSON object.
    pub headers: Value,
    pub body: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The key is this request's now: run it, then `finish` (or `abandon`) the record.
    Claimed,
    /// Someone used the key first (finished, or still running when `status` is `None`).
    Existing(IdempotencyRecord),
}
