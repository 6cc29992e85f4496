//! Inputs and outputs of the store traits.
use base64::Engine as _;
use freeagentics_core::Role;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
}

/// A partial update; `None` leaves the field as it is. Every change bumps `version`.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password_hash: Option<String>,
    /// Also set by `role`/`is_active`/`password_hash` callers that must end existing sessions.
    pub tokens_valid_after: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// Opaque position in a newest-first listing: the last id returned. Ids are UUIDv7, so id order is
/// creation order and the id is its own unique tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Uuid);

/// URL-safe base64 of the 16 id bytes, unpadded. Decoding ignores the 4 unused bits of the last
/// character, so every string matching [`Cursor::PATTERN`] is a position (a list then simply starts
/// there) and the documented pattern is the whole rule.
const CURSOR_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

impl Cursor {
    /// What a cursor looks like, for the API documentation.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{22}$";

    pub fn encode(self) -> String {
        CURSOR_BASE64.encode(self.0.as_bytes())
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = CURSOR_BASE64.decode(raw).ok()?;
        Uuid::from_slice(&bytes).ok().map(Cursor)
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only proves there is more.
    pub(crate) fn from_rows(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor(id(last)))
        } else {
            None
        };
        Page { items, next }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub rotated_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: Value,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_every_string_of_the_pattern_is_one() {
        let id = Uuid::now_v7();
        let encoded = Cursor(id).encode();
        assert_eq!(encoded.len(), 22);
        assert_eq!(Cursor::decode(&encoded), Some(Cursor(id)));
        // the last character carries 4 unused bits: any value of them still names a position
        assert!(Cursor::decode("AAAAAAAAAAAAAAAAAAAAA_").is_some());
        assert!(Cursor::decode("________________________").is_none(), "too long");
        assert!(Cursor::decode("AAAA").is_none(), "too short");
        assert!(Cursor::decode("AAAAAAAAAAAAAAAAAAAAA=").is_none(), "not of the alphabet");
    }
}
