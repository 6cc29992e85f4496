//! Per-class rate limits for every route but health and metrics. Keyed by user id when the request
//! carries a valid access token (authenticated limits are higher), else by client IP. Limits live
//! in Redis, so they hold across replicas; the limiter falls back to in-process state when Redis
//! is down. Every limited response carries `RateLimit-*` and `X-RateLimit-*` headers.
use crate::audit::{self, AuditKind};
use crate::extract::ClientIp;
use crate::{ApiError, AppState};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use freeagentics_shared_state::{Decision, Quota};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    Login,
    Register,
    Refresh,
    Writes,
    Reads,
    WsConnect,
}

impl LimitClass {
    pub const ALL: [LimitClass; 6] = [
        LimitClass::Login,
        LimitClass::Register,
        LimitClass::Refresh,
        LimitClass::Writes,
        LimitClass::Reads,
        LimitClass::WsConnect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Login => "login",
            LimitClass::Register => "register",
            LimitClass::Refresh => "refresh",
            LimitClass::Writes => "writes",
            LimitClass::Reads => "reads",
            LimitClass::WsConnect => "ws_connect",
        }
    }

    /// `None`: not limited (probes and scrapes must never be throttled).
    pub fn of(method: &Method, path: &str) -> Option<LimitClass> {
        if crate::middleware::maintenance::is_exempt(path) {
            return None;
        }
        Some(match (method, path) {
            (&Method::POST, "/api/v1/auth/login") => LimitClass::Login,
            (&Method::POST, "/api/v1/auth/register") => LimitClass::Register,
            (&Method::POST, "/api/v1/auth/refresh") => LimitClass::Refresh,
            (_, "/api/v1/ws") | (_, "/api/v1/ws/ticket") => LimitClass::WsConnect,
            (&Method::GET | &Method::HEAD | &Method::OPTIONS, _) => LimitClass::Reads,
            _ => LimitClass::Writes,
        })
    }
}

/// Requests per period for anonymous callers (by IP) and signed-in users (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    pub anonymous: u32,
    pub authenticated: u32,
    pub period: Duration,
}

impl ClassLimit {
    const fn new(anonymous: u32, authenticated: u32, seconds: u64) -> Self {
        ClassLimit { anonymous, authenticated, period: Duration::from_secs(seconds) }
    }

    /// `ANON,AUTH/SECONDS`, e.g. `5,10/60`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let invalid = || format!("`{spec}` is not ANONYMOUS,AUTHENTICATED/SECONDS (e.g. 5,10/60)");
        let (counts, seconds) = spec.trim().split_once('/').ok_or_else(invalid)?;
        let (anonymous, authenticated) = counts.split_once(',').ok_or_else(invalid)?;
        // bounded so the GCRA interval (period / count) stays at least a millisecond
        let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(invalid);
        let seconds = seconds.trim().parse::<u64>().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(invalid)?;
        Ok(ClassLimit::new(parse(anonymous)?, parse(authenticated)?, seconds))
    }
}

/// Defaults from the original service's table (reference/original-backend.md).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub login: ClassLimit,
    pub register: ClassLimit,
    pub refresh: ClassLimit,
    pub writes: ClassLimit,
    pub reads: ClassLimit,
    pub ws_connect: ClassLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            login: ClassLimit::new(5, 10, 60),
            register: ClassLimit::new(3, 5, 300),
            refresh: ClassLimit::new(10, 30, 60),
            writes: ClassLimit::new(20, 100, 60),
            reads: ClassLimit::new(60, 300, 60),
            ws_connect: ClassLimit::new(50, 200, 60),
        }
    }
}

impl RateLimits {
    pub fn get(&self, class: LimitClass) -> ClassLimit {
        match class {
            LimitClass::Login => self.login,
            LimitClass::Register => self.register,
            LimitClass::Refresh => self.refresh,
            LimitClass::Writes => self.writes,
            LimitClass::Reads => self.reads,
            LimitClass::WsConnect => self.ws_connect,
        }
    }
}

/// The class a request is limited under; `None` when limits are off or the route is exempt.
pub fn class_of(state: &AppState, request: &Request) -> Option<LimitClass> {
    LimitClass::of(request.method(), request.uri().path()).filter(|_| state.rate_limits.enabled)
}

/// Admits or refuses a request. `Ok` hands the request back with the decision whose headers the
/// response must carry; `Err` is the 429 to answer instead.
pub async fn admit(state: &AppState, class: LimitClass, request: Request) -> Result<(Request, Decision), Response> {
    let (mut parts, body) = request.into_parts();
    let limits = state.rate_limits.get(class);
    let ip = ClientIp::from_parts(&parts, state).0;
    // a valid signature is enough to pick the user's budget; full checks happen in the handler
    let user = crate::auth::bearer_claims(&mut parts, state).map(|claims| claims.sub);
    let (identity, requests) = match user {
        Some(id) => (format!("u:{id}"), limits.authenticated),
        None => (format!("ip:{}", freeagentics_core::net::limit_key(ip)), limits.anonymous),
    };
    let (decision, backend) =
        state.limiter.hit(&format!("class:{}:{identity}", class.as_str()), Quota::per(requests, limits.period)).await;
    if decision.allowed {
        return Ok((Request::from_parts(parts, body), decision));
    }
    metrics::counter!("freeagentics_rate_limited_total", "class" => class.as_str(), "backend" => backend.as_str())
        .increment(1);
    // one audit event per blocked client and window, not one per refused request: a flood of
    // cheap 429s must not become a flood of database writes
    let first_denial = || async {
        let quota = Quota::per(1, limits.period);
        state.limiter.hit(&format!("audited:{}:{identity}", class.as_str()), quota).await.0.allowed
    };
    if matches!(class, LimitClass::Login | LimitClass::Register | LimitClass::Refresh) && first_denial().await {
        let detail = serde_json::json!({ "class": class.as_str(), "path": parts.uri.path() });
        audit::record(state, AuditKind::RateLimitBlock, user, None, Some(ip.to_string()), detail).await;
    }
    let mut response = ApiError::TooManyRequests {
        detail: format!("rate limit for `{}` exceeded; retry later", class.as_str()),
        retry_after: decision.retry_after,
    }
    .into_response();
    set_headers(response.headers_mut(), &decision);
    Err(response)
}

pub fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    let reset = crate::error::retry_after_seconds(decision.reset_after);
    for (name, value) in [
        ("ratelimit-limit", u64::from(decision.limit)),
        ("ratelimit-remaining", u64::from(decision.remaining)),
        ("ratelimit-reset", reset),
        ("x-ratelimit-limit", u64::from(decision.limit)),
        ("x-ratelimit-remaining", u64::from(decision.remaining)),
        ("x-ratelimit-reset", reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_route() {
        assert_eq!(LimitClass::of(&Method::POST, "/api/v1/auth/login"), Some(LimitClass::Login));
        assert_eq!(LimitClass::of(&Method::GET, "/api/v1/users"), Some(LimitClass::Reads));
        assert_eq!(LimitClass::of(&Method::PATCH, "/api/v1/users/1"), Some(LimitClass::Writes));
        assert_eq!(LimitClass::of(&Method::GET, "/health"), None);
        assert_eq!(LimitClass::of(&Method::GET, "/metrics"), None);
        assert_eq!(LimitClass::of(&Method::GET, "/api/v1/health"), None);
    }

    #[test]
    fn limit_specs_parse() {
        assert_eq!(ClassLimit::parse("5,10/60"), Ok(ClassLimit::new(5, 10, 60)));
        assert!(ClassLimit::parse("5/60").is_err());
        assert!(ClassLimit::parse("0,1/60").is_err());
        assert!(ClassLimit::parse("a,b/c").is_err());
        assert!(ClassLimit::parse("5,10/0").is_err());
        assert!(ClassLimit::parse("5,10/999999").is_err());
    }
}
