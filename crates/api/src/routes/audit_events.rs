//! `/api/v1/audit-events`: the security log, for admins.
use crate::extract::{PageParams, ValidQuery, Validate};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::ValidationErrors;
use freeagentics_core::validation::check_filter_text;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `login_failure`, `refresh_reuse_detected`, `role_change`.
    #[param(min_length = 1, max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub kind: Option<String>,
    pub user_id: Option<Uuid>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

impl Validate for AuditQuery {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        PageParams { limit: self.limit, cursor: self.cursor.clone() }.check(&mut errors);
        if let Some(kind) = &self.kind {
            errors.check("kind", check_filter_text(kind, 64));
        }
        errors.into_result()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// Security events, newest first.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "users", params(AuditQuery),
    responses((status = 200, description = "A page of events", body = AuditEventPage)))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> Result<Json<AuditEventPage>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    let found =
        state.store.list_audit_events(query.kind.as_deref(), query.user_id, page.limit(), page.cursor()).await?;
    let items = found
        .items
        .into_iter()
        .map(|e| AuditEventView {
            id: e.id,
            kind: e.kind,
            user_id: e.user_id,
            actor_id: e.actor_id,
            ip: e.ip,
            detail: e.detail,
            created_at: e.created_at,
        })
        .collect();
    Ok(Json(AuditEventPage { items, next_cursor: found.next.map(|c| c.encode()) }))
}
