//! Security events (OWASP API10 / ASVS 7.2): stored in `audit_events` and written to the log.
//! Never passwords or tokens — callers pass identifiers and reasons only.
use crate::AppState;
use freeagentics_store::NewAuditEvent;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Register,
    LoginSuccess,
    LoginFailure,
    RefreshReuseDetected,
    Logout,
    PasswordChange,
    RoleChange,
    Deactivation,
    Reactivation,
    UserCreated,
    RateLimitBlock,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Register => "register",
            AuditKind::LoginSuccess => "login_success",
            AuditKind::LoginFailure => "login_failure",
            AuditKind::RefreshReuseDetected => "refresh_reuse_detected",
            AuditKind::Logout => "logout",
            AuditKind::PasswordChange => "password_change",
            AuditKind::RoleChange => "role_change",
            AuditKind::Deactivation => "deactivation",
            AuditKind::Reactivation => "reactivation",
            AuditKind::UserCreated => "user_created",
            AuditKind::RateLimitBlock => "rate_limit_block",
        }
    }
}

/// Records an event. A failure to store it is logged, never turned into a failed request: the
/// log line below still carries the event.
pub async fn record(
    state: &AppState,
    kind: AuditKind,
    user_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    ip: Option<String>,
    detail: Value,
) {
    tracing::info!(
        target: "audit",
        event = kind.as_str(),
        user_id = ?user_id,
        actor_id = ?actor_id,
        ip = ip.as_deref().unwrap_or(""),
        detail = %detail,
        "security event"
    );
    let event = NewAuditEvent { kind: kind.as_str().to_owned(), user_id, actor_id, ip, detail };
    if let Err(e) = state.store.insert_audit_event(event).await {
        tracing::warn!(error = %e, event = kind.as_str(), "could not store an audit event");
    }
}
