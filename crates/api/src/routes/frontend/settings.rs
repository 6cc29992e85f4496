//! `/api/v1/settings`: the caller's frontend settings. `GET` reads them (defaults before the first
//! write), `PATCH` changes the fields it names, `PUT` replaces them all, `DELETE …/api-keys` removes
//! both keys. Writes are read-change-write cycles over a version, retried when another write came
//! in between, so two tabs saving different fields never lose one.
use super::frontend;
use crate::auth::AuthUser;
use crate::extract::{ValidJson, Validate};
use crate::frontend::settings::{Mode, SettingsChange, SettingsView, apply, defaults, view};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::ValidationErrors;
use freeagentics_store::StoreError;
use serde::Serialize;
use uuid::Uuid;

/// Read-change-write cycles one request tries before giving up with 409.
const WRITE_ATTEMPTS: usize = 5;

#[derive(Debug, Serialize)]
pub struct SettingsSaved {
    pub success: bool,
    pub settings: SettingsView,
}

impl Validate for SettingsChange {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.check()
    }
}

pub async fn get_settings(State(state): State<AppState>, user: AuthUser) -> Result<Json<SettingsView>, ApiError> {
    let frontend = frontend(&state)?;
    let stored = state.store.user_settings(user.user.id).await?;
    Ok(Json(view(&frontend.sealer, &stored.unwrap_or_else(|| defaults(user.user.id)))))
}

pub async fn patch_settings(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(change): ValidJson<SettingsChange>,
) -> Result<Json<SettingsSaved>, ApiError> {
    save(&state, user.user.id, &change, Mode::Patch).await
}

pub async fn put_settings(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(change): ValidJson<SettingsChange>,
) -> Result<Json<SettingsSaved>, ApiError> {
    save(&state, user.user.id, &change, Mode::Replace).await
}

pub async fn delete_api_keys(State(state): State<AppState>, user: AuthUser) -> Result<Json<SettingsSaved>, ApiError> {
    let change = SettingsChange {
        openai_api_key: Some(String::new()),
        anthropic_api_key: Some(String::new()),
        ..SettingsChange::default()
    };
    save(&state, user.user.id, &change, Mode::Patch).await
}

async fn save(
    state: &AppState,
    user_id: Uuid,
    change: &SettingsChange,
    mode: Mode,
) -> Result<Json<SettingsSaved>, ApiError> {
    let frontend = frontend(state)?;
    for _ in 0..WRITE_ATTEMPTS {
        let stored = state.store.user_settings(user_id).await?;
        let expected = stored.as_ref().map(|s| s.version);
        let current = stored.unwrap_or_else(|| defaults(user_id));
        let next =
            apply(&frontend.sealer, &current, change, mode).map_err(|e| ApiError::internal("sealing an API key", e))?;
        match state.store.put_user_settings(&next, expected).await {
            Ok(saved) => return Ok(Json(SettingsSaved { success: true, settings: view(&frontend.sealer, &saved) })),
            Err(StoreError::VersionMismatch) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict {
        detail: format!("{WRITE_ATTEMPTS} concurrent changes to these settings overtook this one; retry it"),
        errors: Vec::new(),
    })
}
