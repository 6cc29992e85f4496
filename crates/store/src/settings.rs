//! Per-user settings of the web frontend (docs/FRONTEND.md): one row per user. API keys arrive
//! sealed by the API layer; the store keeps their bytes and never sees them in clear.
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct UserSettings {
    pub user_id: Uuid,
    pub llm_provider: String,
    pub llm_model: String,
    pub gnn_enabled: bool,
    pub debug_logs: bool,
    pub auto_suggest: bool,
    /// Sealed (nonce + ciphertext); `None` when no key is set.
    pub openai_api_key: Option<Vec<u8>>,
    pub anthropic_api_key: Option<Vec<u8>>,
    /// Bumped by every write: concurrent read-change-write cycles cannot lose each other's fields.
    pub version: i64,
    pub updated_at: OffsetDateTime,
}

/// Totals over every agent, for the frontend's metrics footer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AgentTotals {
    /// Steps taken by the agents that exist now.
    pub steps: i64,
    /// Mean of the agents' last free energy, over agents that have stepped.
    pub mean_last_free_energy: Option<f64>,
}
