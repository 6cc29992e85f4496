//! Admission by policy: what an operation's declared [`Operation`] demands before its handler may
//! run — a signed-in, active user; the permission of the role table; `If-Match` where required.
//! Declared with the route (`router.rs`), enforced here, documented by `openapi::complete`.
use crate::auth::AuthUser;
use crate::policy::{Access, IfMatch, Operation, Preload};
use crate::{ApiError, AppState};
use axum::extract::Request;
use axum::http::header;

/// Whether the operation demands anything before its handler runs.
pub fn has_checks(operation: &Operation) -> bool {
    operation.access != Access::Public || operation.if_match == IfMatch::Required
}

/// Authenticates and authorizes the request as the operation demands. The user is left in the
/// request's extensions, where the [`AuthUser`] extractor finds it.
pub async fn check(state: &AppState, operation: &Operation, request: Request) -> Result<Request, ApiError> {
    let (mut parts, body) = request.into_parts();
    if operation.access != Access::Public {
        let user = match operation.preload {
            Preload::AgentInPath => match last_segment_id(&parts) {
                Some(agent) => crate::agents::preload::authenticate(&mut parts, state, agent).await?,
                None => AuthUser::authenticate(&mut parts, state).await?,
            },
            Preload::Nothing => AuthUser::authenticate(&mut parts, state).await?,
        };
        if let Access::Permission(permission) = operation.access
            && !user.can(permission)
        {
            return Err(ApiError::Forbidden(format!("this action needs the `{}` permission", permission.as_str())));
        }
    }
    if operation.if_match == IfMatch::Required && !parts.headers.contains_key(header::IF_MATCH) {
        return Err(ApiError::PreconditionRequired(
            "send `If-Match` with the `ETag` of the version you read, so concurrent changes are not lost".to_owned(),
        ));
    }
    Ok(Request::from_parts(parts, body))
}

/// The id a path such as `/api/v1/agents/{id}` ends with; `None` when it ends otherwise (the
/// handler's own path extractor then answers as it would).
fn last_segment_id(parts: &axum::http::request::Parts) -> Option<uuid::Uuid> {
    parts.uri.path().rsplit('/').next().and_then(|segment| uuid::Uuid::parse_str(segment).ok())
}
