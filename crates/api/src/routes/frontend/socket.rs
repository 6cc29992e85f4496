//! `GET /api/v1/ws/dev`: the frontend's socket, without a token (the frontend sends none). It is the
//! development account's: our real-time hub, limits and metrics, speaking the frontend's dialect
//! (`realtime::frontend`). `WS_DEV_MAX_CONNECTIONS` bounds them per replica (one tab opens ~10).
use super::frontend;
use crate::auth::{AuthUser, access_token};
use crate::frontend::dev_user::dev_user;
use crate::realtime::Dialect;
use crate::realtime::frontend::FrontendDialect;
use crate::routes::ws::{admit, open, upgrade_of};
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use std::time::Duration;

pub async fn connect_dev_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let frontend = frontend(&state)?;
    admit(&state, &headers)?;
    let upgrade = upgrade_of(upgrade)?;
    let account = dev_user(&state, frontend).await?;
    // the socket runs as the development account: a token of its own, never sent anywhere
    let (_, claims) = access_token(&state, &account)?;
    let user = AuthUser::from_claims(&state, claims).await?;
    let Some(slot) = state.realtime.reserve_dev(frontend.max_sockets) else {
        return Err(ApiError::TooManyRequests {
            detail: format!("at most {} development sockets are open; close one first", frontend.max_sockets),
            retry_after: Duration::from_secs(3),
        });
    };
    let dialect = Dialect::Frontend(FrontendDialect::new(account.id));
    Ok(open(upgrade, state, user, slot, dialect))
}
