//! Per-class rate limits (the class of each route is declared with it in `router.rs`). Keyed by user id when the request
//! carries a valid access token (authenticated limits are higher), else by client IP. Limits live
//! in Redis, so they hold across replicas; the limiter falls back to in-process state when Redis
//! is down. Every limited response carries `RateLimit-*` and `X-RateLimit-*` headers.
use crate::audit::{self, AuditKind};
use crate::extract::ClientIp;
use crate::limits::LimitClass;
use crate::{ApiError, AppState};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use freeagentics_shared_state::{Decision, Quota};

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
