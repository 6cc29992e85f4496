//! `/api/v1/coalitions/{id}/members`: join, change a member, leave. The rules (one membership per
//! agent, max size, `COALITION_MAX_PER_AGENT`, eligible agents, leader succession, dissolution on
//! the last leave) are decided by `freeagentics_core::coalition` under the coalition's lock, so
//! concurrent requests cannot both take the last slot.
use crate::auth::AuthUser;
use crate::coalitions::{self, CoalitionView, events};
use crate::extract::{ValidJson, ValidPath, Validate};
use crate::routes::agents::may_change as may_change_agent;
use crate::routes::coalitions::{CoalitionId, answer, may_change, writable};
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use freeagentics_core::ValidationErrors;
use freeagentics_core::coalition::MemberRole;
use freeagentics_core::coalition::membership::validate_member_scores;
use freeagentics_store::{JoinRequest, MemberChange, StoreError};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct MemberPath {
    pub id: Uuid,
    pub agent_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub agent_id: Uuid,
    /// Default: `leader` for the first member, `member` otherwise. Asking for `leader` makes the
    /// current leader a plain member.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(value_type = Option<crate::coalitions::view::MemberRoleName>, nullable = false)]
    pub role: Option<MemberRole>,
}

impl Validate for AddMemberRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// At least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateMemberRequest {
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(value_type = Option<crate::coalitions::view::MemberRoleName>, nullable = false)]
    pub role: Option<MemberRole>,
    /// 0–1.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, minimum = 0.0, maximum = 1.0)]
    pub contribution: Option<f64>,
    /// 0–1.
    #[serde(default, deserialize_with = "crate::extract::no_null")]
    #[schema(nullable = false, minimum = 0.0, maximum = 1.0)]
    pub trust: Option<f64>,
}

impl Validate for UpdateMemberRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = validate_member_scores(self.contribution, self.trust);
        if self.role.is_none() && self.contribution.is_none() && self.trust.is_none() {
            errors.add("body", "give `role`, `contribution` and/or `trust`");
        }
        errors.into_result()
    }
}

/// Add an agent to a coalition. The caller must own (or administer) both the coalition and the
/// agent. Refused with 409 when the coalition is full or not accepting members, the agent is
/// already a member, is stopped or errored, or is at its coalition limit.
#[utoipa::path(post, path = "/api/v1/coalitions/{id}/members", tag = "coalitions", params(("id" = Uuid, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Joined", body = CoalitionView, headers(("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Not the coalition's owner, or not allowed to change the agent"),
        (status = 409, description = "A membership rule refused the join (the problem says which)"),
    ))]
pub async fn add_coalition_member(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(CoalitionId { id }): ValidPath<CoalitionId>,
    ValidJson(body): ValidJson<AddMemberRequest>,
) -> Result<Response, ApiError> {
    writable(&state, &user, id).await?;
    let agent = match state.store.agent_by_id(body.agent_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::validation("agent_id", "no such agent")),
        other => other?,
    };
    may_change_agent(&user, &agent)?;
    let join =
        JoinRequest { agent_id: body.agent_id, role: body.role, max_coalitions: state.config.coalition_max_per_agent };
    let joined = state.store.add_member(id, join, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::CREATED, &joined?))
}

/// Change a member's role, contribution or trust. Making a member `leader` demotes the current
/// leader; a leader stepping down is succeeded by the member with the highest contribution × trust
/// (then the earliest join).
#[utoipa::path(patch, path = "/api/v1/coalitions/{id}/members/{agent_id}", tag = "coalitions",
    params(("id" = Uuid, Path), ("agent_id" = Uuid, Path)),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "Changed", body = CoalitionView, headers(("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Not the coalition's owner (nor an admin)"),
        (status = 409, description = "Dissolved, or the only member cannot stop leading"),
    ))]
pub async fn update_coalition_member(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(MemberPath { id, agent_id }): ValidPath<MemberPath>,
    ValidJson(body): ValidJson<UpdateMemberRequest>,
) -> Result<Response, ApiError> {
    writable(&state, &user, id).await?;
    let change = MemberChange { role: body.role, contribution: body.contribution, trust: body.trust };
    let updated = state.store.update_member(id, agent_id, change, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &updated?))
}

/// Take an agent out of a coalition: the coalition's owner, the agent's owner or an admin may. A
/// leaving leader is succeeded as on a role change; the last member leaving dissolves the
/// coalition. Answers the coalition as it is afterwards.
#[utoipa::path(delete, path = "/api/v1/coalitions/{id}/members/{agent_id}", tag = "coalitions",
    params(("id" = Uuid, Path), ("agent_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Left", body = CoalitionView, headers(("ETag" = String, description = "The coalition's new version"))),
        (status = 403, description = "Neither the coalition's nor the agent's owner (nor an admin)"),
        (status = 409, description = "The coalition is dissolved"),
    ))]
pub async fn remove_coalition_member(
    State(state): State<AppState>,
    user: AuthUser,
    ValidPath(MemberPath { id, agent_id }): ValidPath<MemberPath>,
) -> Result<Response, ApiError> {
    let detail = state.store.coalition_by_id(id).await?;
    if may_change(&user, detail.coalition.owner_id).is_err() {
        let agent = match state.store.agent_by_id(agent_id).await {
            Err(StoreError::NotFound) => return Err(ApiError::NotFound),
            other => other?,
        };
        if !user.owns_or_admin(agent.owner_id) {
            return Err(ApiError::Forbidden(
                "only the coalition's owner, the agent's owner or an admin may remove a member".to_owned(),
            ));
        }
    }
    let left = state.store.remove_member(id, agent_id, &events::of).await;
    coalitions::changed(&state, &[id]).await;
    Ok(answer(StatusCode::OK, &left?))
}
