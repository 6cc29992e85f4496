//! The settings the HTTP layer needs. The server crate fills them from the environment; tests build
//! them directly.
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub service_name: String,
    pub version: String,
    /// Handler deadline; past it the client gets 503 problem+json and the work is dropped.
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Body limit of the inference routes (`policy::BodyLimit::Inference`).
    pub inference_max_body_bytes: usize,
    /// Exact origins allowed by CORS (and, later, on the WebSocket handshake).
    pub cors_origins: Vec<String>,
    /// Budget of each dependency probe in `/api/v1/health`.
    pub health_check_timeout: Duration,
    /// Seconds sent in `Retry-After` with 503s (maintenance, draining, unavailable dependency).
    pub retry_after: Duration,
    /// Peers whose `X-Forwarded-For` names the client (load balancers, the mesh).
    pub trusted_proxies: Vec<freeagentics_core::net::TrustedProxy>,
    /// `/metrics` is served by its own listener (`router::metrics_router`); the main router then
    /// answers 404 there.
    pub metrics_on_own_listener: bool,
    /// `COALITION_MAX_PER_AGENT`: coalitions (not dissolved) one agent may be a member of.
    pub coalition_max_per_agent: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            service_name: "freeagentics".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            inference_max_body_bytes: 8 * 1024 * 1024,
            cors_origins: vec!["http://localhost:3000".to_owned()],
            health_check_timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            metrics_on_own_listener: false,
            coalition_max_per_agent: freeagentics_core::coalition::membership::DEFAULT_MAX_COALITIONS_PER_AGENT,
        }
    }
}
