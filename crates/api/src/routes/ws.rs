//! The WebSocket endpoint and its tickets (docs/REALTIME.md). Authentication happens at the
//! handshake, before the upgrade, so every refusal is an ordinary HTTP answer (problem+json):
//! `Authorization: Bearer`, or a single-use ticket in the query for browsers, which cannot set
//! headers on an upgrade. The operation is public in the route table because a ticket is not a
//! bearer token; the handler authenticates both the same way (`AuthUser::from_claims`).
use crate::auth::{AccessClaims, AuthUser};
use crate::extract::{ValidQuery, Validate};
use crate::realtime::{Dialect, Slot};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine as _;
use freeagentics_core::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Tickets are 32 random bytes, base64url without padding.
const TICKET_LENGTH: usize = 43;
/// Socket buffers: small, because most sockets are idle and there may be thousands (the library
/// defaults are 128 KiB each way). Messages larger than a buffer still pass; they just take more
/// reads or writes.
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// What may wait in the library's write buffer for a client that stopped reading: events are
/// bounded by the API's body limits, and the send queue (not this buffer) is what bounds a slow
/// client.
const MAX_WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct WsTicket {
    /// Pass as `?ticket=` to `GET /api/v1/ws` once, within `expires_in` seconds.
    pub ticket: String,
    pub expires_in: u64,
}

#[utoipa::path(post, path = "/api/v1/ws/ticket", tag = "realtime",
    responses((status = 200, description = "A single-use ticket for `GET /api/v1/ws`", body = WsTicket)),
    security(("bearer" = [])))]
pub async fn create_ws_ticket(State(state): State<AppState>, user: AuthUser) -> Result<Json<WsTicket>, ApiError> {
    let bytes: [u8; 32] = rand::random();
    let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let claims = serde_json::to_string(&user.claims).map_err(|e| ApiError::internal("encoding a ticket", e))?;
    let ttl = state.realtime.settings.ticket_ttl;
    state.realtime.tickets.put(&ticket_key(&ticket), &claims, ttl).await;
    Ok(Json(WsTicket { ticket, expires_in: ttl.as_secs() }))
}

/// Stored under its digest: whoever reads Redis cannot use a ticket.
fn ticket_key(ticket: &str) -> String {
    crate::digest::sha256_hex(&[b"ws-ticket:", ticket.as_bytes()])
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConnectQuery {
    /// From `POST /api/v1/ws/ticket`, when the client cannot send `Authorization`.
    #[param(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    pub ticket: Option<String>,
}

impl Validate for ConnectQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.ticket.as_ref().is_some_and(|t| t.len() != TICKET_LENGTH) {
            errors.add("ticket", "is not a ticket from POST /api/v1/ws/ticket");
        }
        errors.into_result()
    }
}

#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", params(ConnectQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol (docs/REALTIME.md)"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "No token or ticket; or an invalid, expired, revoked or already used one"),
        (status = 403, description = "`Origin` is not an allowed origin (`CORS_ORIGINS`)"),
        (status = 429, description = "Connect rate limit exceeded, or the user has `WS_MAX_CONNECTIONS_PER_USER` sockets open"),
    ),
    security(("bearer" = []), ()))]
pub async fn connect_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidQuery(query): ValidQuery<ConnectQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let realtime = &state.realtime;
    admit(&state, &headers)?;
    let user = authenticate(&state, &headers, query.ticket.as_deref()).await?;
    let upgrade = upgrade_of(upgrade)?;
    let Some(slot) = realtime.reserve(user.user.id) else {
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "at most {} WebSocket connections per user; close one first",
                realtime.settings.max_connections_per_user
            ),
            retry_after: Duration::from_secs(5),
        });
    };
    Ok(open(upgrade, state, user, slot, Dialect::Events))
}

/// Refuses a handshake this replica cannot take: it is shutting down (503), or the browser page
/// is not of an allowed origin (403; browsers always send `Origin` on a WebSocket handshake, other
/// clients need not).
pub(crate) fn admit(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.realtime.shutdown.is_cancelled() || state.lifecycle.is_draining() {
        return Err(ApiError::Unavailable {
            detail: "this replica is shutting down; connect again".to_owned(),
            retry_after: state.config.retry_after,
        });
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !state.config.cors_origins.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes())
    {
        return Err(ApiError::Forbidden("this origin may not open WebSockets here".to_owned()));
    }
    Ok(())
}

/// The upgrade, or 400 for a request that is not one.
pub(crate) fn upgrade_of(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    upgrade.map_err(|_| ApiError::BadRequest("expected a WebSocket upgrade (GET with `Upgrade: websocket`)".to_owned()))
}

/// Completes the upgrade with the socket limits and serves the socket.
pub(crate) fn open(
    upgrade: WebSocketUpgrade,
    state: AppState,
    user: AuthUser,
    slot: Slot,
    dialect: Dialect,
) -> Response {
    let max_message = state.realtime.settings.max_message_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES.max(max_message))
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move { crate::realtime::serve(socket, state, user, slot, dialect).await })
}

/// The bearer token, or else the ticket (taken, so it works once).
async fn authenticate(state: &AppState, headers: &HeaderMap, ticket: Option<&str>) -> Result<AuthUser, ApiError> {
    let unauthorized = |why: &str| ApiError::Unauthorized(why.to_owned());
    let claims = if headers.contains_key(header::AUTHORIZATION) {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        token
            .and_then(|t| state.keys.verify(t))
            .ok_or_else(|| unauthorized("missing, invalid or expired access token"))?
    } else if let Some(ticket) = ticket {
        let stored = state.realtime.tickets.take(&ticket_key(ticket)).await;
        let claims = stored.and_then(|s| serde_json::from_str::<AccessClaims>(&s).ok());
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        claims.filter(|c| c.exp > now).ok_or_else(|| unauthorized("unknown, expired or already used ticket"))?
    } else {
        return Err(unauthorized("send `Authorization: Bearer <token>`, or `?ticket=` from POST /api/v1/ws/ticket"));
    };
    AuthUser::from_claims(state, claims).await
}
