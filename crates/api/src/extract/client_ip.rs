use crate::{ApiError, AppState};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use freeagentics_core::net::client_ip;
use std::net::{IpAddr, SocketAddr};

/// The client's address: the socket peer, or — only when the peer is a trusted proxy — the
/// right-most untrusted `X-Forwarded-For` hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn from_parts(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(addr)| addr.ip());
        // the header may come as several lines (some proxies add one instead of appending): they
        // are one list in order, and the right-most entries are the ones our proxies wrote
        let lines: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        let forwarded = (!lines.is_empty()).then(|| lines.join(","));
        ClientIp(client_ip(peer, forwarded.as_deref(), &state.config.trusted_proxies))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_parts(parts, state))
    }
}
