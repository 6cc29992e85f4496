//! The frontend's per-user settings: its language-model choice, API keys and switches. Keys are
//! sealed before they are stored (`Sealer`, bound to their owner and field) and only ever shown
//! masked; a masked value sent back unchanged leaves the key as it is.
use super::Sealer;
use freeagentics_core::ValidationErrors;
use freeagentics_store::UserSettings;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const PROVIDER_MAX_CHARS: usize = 50;
pub const MODEL_MAX_CHARS: usize = 100;
pub const API_KEY_MAX_CHARS: usize = 512;
const DEFAULT_PROVIDER: &str = "openai";
const DEFAULT_MODEL: &str = "gpt-4o";
/// Keys shorter than this are masked entirely: showing 7 of their characters would show most.
const MASK_MIN_CHARS: usize = 12;

/// A change: PATCH sends the changed snake_case keys, PUT all of them in camelCase; both spellings
/// are accepted. An empty key removes it. Fields the frontend may add later are ignored.
#[derive(Default, Deserialize)]
pub struct SettingsChange {
    #[serde(default, alias = "llmProvider")]
    pub llm_provider: Option<String>,
    #[serde(default, alias = "llmModel")]
    pub llm_model: Option<String>,
    #[serde(default, alias = "openaiApiKey")]
    pub openai_api_key: Option<String>,
    #[serde(default, alias = "anthropicApiKey")]
    pub anthropic_api_key: Option<String>,
    #[serde(default, alias = "gnnEnabled")]
    pub gnn_enabled: Option<bool>,
    #[serde(default, alias = "debugLogs")]
    pub debug_logs: Option<bool>,
    #[serde(default, alias = "autoSuggest")]
    pub auto_suggest: Option<bool>,
}

impl std::fmt::Debug for SettingsChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsChange")
            .field("llm_provider", &self.llm_provider)
            .field("llm_model", &self.llm_model)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "[REDACTED]"))
            .field("anthropic_api_key", &self.anthropic_api_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

fn check_text(value: &str, max: usize, errors: &mut ValidationErrors, field: &str) {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        errors.add(field, format!("must be at most {max} characters, without control characters"));
    }
}

impl SettingsChange {
    pub fn check(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(provider) = &self.llm_provider {
            check_text(provider, PROVIDER_MAX_CHARS, &mut errors, "llm_provider");
        }
        if let Some(model) = &self.llm_model {
            check_text(model, MODEL_MAX_CHARS, &mut errors, "llm_model");
        }
        for (field, key) in [("openai_api_key", &self.openai_api_key), ("anthropic_api_key", &self.anthropic_api_key)] {
            if let Some(key) = key
                && (key.chars().count() > API_KEY_MAX_CHARS || key.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                errors.add(field, format!("must be at most {API_KEY_MAX_CHARS} characters, without spaces"));
            }
        }
        errors.into_result()
    }
}

/// Settings as the frontend reads them; keys masked (empty when none is set).
#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub llm_provider: String,
    pub llm_model: String,
    pub openai_api_key: String,
    pub anthropic_api_key: String,
    pub gnn_enabled: bool,
    pub debug_logs: bool,
    pub auto_suggest: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// How a change meets the stored settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the fields given change.
    Patch,
    /// The fields given, defaults for the rest (keys included).
    Replace,
}

pub fn defaults(user_id: Uuid) -> UserSettings {
    UserSettings {
        user_id,
        llm_provider: DEFAULT_PROVIDER.to_owned(),
        llm_model: DEFAULT_MODEL.to_owned(),
        gnn_enabled: true,
        debug_logs: false,
        auto_suggest: true,
        openai_api_key: None,
        anthropic_api_key: None,
        version: 0,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

/// `sk-…wxyz` for long keys, dots for short ones.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < MASK_MIN_CHARS {
        return "•".repeat(8);
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[derive(Debug, Clone, Copy)]
enum KeyField {
    OpenAi,
    Anthropic,
}

impl KeyField {
    fn context(self, user_id: Uuid) -> Vec<u8> {
        let name = match self {
            KeyField::OpenAi => "openai_api_key",
            KeyField::Anthropic => "anthropic_api_key",
        };
        format!("settings:{user_id}:{name}").into_bytes()
    }

    fn sealed(self, settings: &UserSettings) -> Option<&Vec<u8>> {
        match self {
            KeyField::OpenAi => settings.openai_api_key.as_ref(),
            KeyField::Anthropic => settings.anthropic_api_key.as_ref(),
        }
    }
}

/// A stored key in clear; `None` when none is stored or it no longer opens (the settings key
/// changed), which the frontend then shows as missing so the user enters it again.
fn opened(sealer: &Sealer, settings: &UserSettings, field: KeyField) -> Option<String> {
    let sealed = field.sealed(settings)?;
    match sealer.open(sealed, &field.context(settings.user_id)) {
        Ok(bytes) => String::from_utf8(bytes).ok(),
        Err(error) => {
            tracing::warn!(user_id = %settings.user_id, ?field, %error, "a stored API key does not open");
            None
        }
    }
}

pub fn view(sealer: &Sealer, settings: &UserSettings) -> SettingsView {
    let shown = |field| opened(sealer, settings, field).map(|key| mask(&key)).unwrap_or_default();
    SettingsView {
        llm_provider: settings.llm_provider.clone(),
        llm_model: settings.llm_model.clone(),
        openai_api_key: shown(KeyField::OpenAi),
        anthropic_api_key: shown(KeyField::Anthropic),
        gnn_enabled: settings.gnn_enabled,
        debug_logs: settings.debug_logs,
        auto_suggest: settings.auto_suggest,
        updated_at: (settings.version > 0).then_some(settings.updated_at),
    }
}

/// The settings after `change`, keys sealed.
pub fn apply(
    sealer: &Sealer,
    current: &UserSettings,
    change: &SettingsChange,
    mode: Mode,
) -> Result<UserSettings, super::sealer::SealError> {
    let base = match mode {
        Mode::Patch => current.clone(),
        Mode::Replace => UserSettings { version: current.version, ..defaults(current.user_id) },
    };
    let key = |field: KeyField, given: &Option<String>| -> Result<Option<Vec<u8>>, super::sealer::SealError> {
        let Some(given) = given else { return Ok(field.sealed(&base).cloned()) };
        if given.is_empty() {
            return Ok(None);
        }
        // the masked form the frontend was shown, sent back unchanged
        if opened(sealer, current, field).is_some_and(|key| mask(&key) == *given) {
            return Ok(field.sealed(current).cloned());
        }
        sealer.seal(given.as_bytes(), &field.context(current.user_id)).map(Some)
    };
    Ok(UserSettings {
        llm_provider: change.llm_provider.clone().unwrap_or_else(|| base.llm_provider.clone()),
        llm_model: change.llm_model.clone().unwrap_or_else(|| base.llm_model.clone()),
        gnn_enabled: change.gnn_enabled.unwrap_or(base.gnn_enabled),
        debug_logs: change.debug_logs.unwrap_or(base.debug_logs),
        auto_suggest: change.auto_suggest.unwrap_or(base.auto_suggest),
        openai_api_key: key(KeyField::OpenAi, &change.openai_api_key)?,
        anthropic_api_key: key(KeyField::Anthropic, &change.anthropic_api_key)?,
        ..base.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&[3; 32])
    }

    #[test]
    fn keys_are_masked_never_shown_whole() {
        assert_eq!(mask("sk-abcdefghijklmnop1234"), "sk-…1234");
        assert_eq!(mask("short-key"), "••••••••");
        assert_eq!(mask("é".repeat(20).as_str()), "ééé…éééé", "characters, not bytes");
    }

    #[test]
    fn patches_change_what_they_name_and_masks_round_trip() {
        let sealer = sealer();
        let user = Uuid::now_v7();
        let change =
            SettingsChange { openai_api_key: Some("sk-live-0123456789abcdef".to_owned()), ..Default::default() };
        let first = apply(&sealer, &defaults(user), &change, Mode::Patch).unwrap();
        let sealed = first.openai_api_key.clone().unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("0123456789"), "sealed at rest");
        let shown = view(&sealer, &first);
        assert_eq!(shown.openai_api_key, "sk-…cdef");
        assert_eq!(shown.anthropic_api_key, "");
        assert_eq!(shown.llm_provider, "openai", "unnamed fields keep their values");

        // the mask sent back (a form resubmitting what it was shown) keeps the key
        let resubmit =
            SettingsChange { openai_api_key: Some(shown.openai_api_key), debug_logs: Some(true), ..Default::default() };
        let second = apply(&sealer, &first, &resubmit, Mode::Patch).unwrap();
        assert_eq!(second.openai_api_key, first.openai_api_key);
        assert!(second.debug_logs);

        let cleared = apply(
            &sealer,
            &second,
            &SettingsChange { openai_api_key: Some(String::new()), ..Default::default() },
            Mode::Patch,
        )
        .unwrap();
        assert_eq!(cleared.openai_api_key, None);
        assert!(cleared.debug_logs);

        let replaced = apply(
            &sealer,
            &second,
            &SettingsChange { llm_model: Some("claude".to_owned()), ..Default::default() },
            Mode::Replace,
        )
        .unwrap();
        assert_eq!(
            (replaced.llm_model.as_str(), replaced.debug_logs, replaced.openai_api_key.is_none()),
            ("claude", false, true)
        );

        // another user's row holding this key does not open it
        let stolen = UserSettings { openai_api_key: first.openai_api_key, ..defaults(Uuid::now_v7()) };
        assert_eq!(view(&sealer, &stolen).openai_api_key, "");
    }

    #[test]
    fn changes_are_checked_at_their_limits() {
        let ok = SettingsChange {
            llm_provider: Some("p".repeat(PROVIDER_MAX_CHARS)),
            llm_model: Some("m".repeat(MODEL_MAX_CHARS)),
            openai_api_key: Some("k".repeat(API_KEY_MAX_CHARS)),
            ..Default::default()
        };
        assert!(ok.check().is_ok());
        let too_long = SettingsChange { llm_model: Some("m".repeat(MODEL_MAX_CHARS + 1)), ..Default::default() };
        assert!(too_long.check().is_err());
        let spaced = SettingsChange { anthropic_api_key: Some("sk ant".to_owned()), ..Default::default() };
        assert!(spaced.check().is_err());
        let debug =
            format!("{:?}", SettingsChange { openai_api_key: Some("sk-secret".to_owned()), ..Default::default() });
        assert!(!debug.contains("sk-secret"), "{debug}");
    }
}
