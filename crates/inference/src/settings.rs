//! Agent settings, with pymdp 0.0.7.1's `Agent` defaults.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::limits::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSelection {
    /// The arg-max of the first-step action marginal (ties to the lowest index).
    Deterministic,
    /// A draw from `softmax(alpha · ln marginal)` with the agent's seeded generator.
    Stochastic,
}

/// How an agent plans and acts. Everything not given takes pymdp's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Planning horizon: timesteps per policy.
    pub policy_len: usize,
    /// Policy precision γ: `q_pi = softmax(γ·G + ln E)`.
    pub gamma: f64,
    /// Action precision α (stochastic selection only).
    pub alpha: f64,
    /// Include the expected utility (preferences C) in G.
    pub use_utility: bool,
    /// Include the expected state information gain in G.
    pub use_states_info_gain: bool,
    pub action_selection: ActionSelection,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy_len: 1,
            gamma: 16.0,
            alpha: 16.0,
            use_utility: true,
            use_states_info_gain: true,
            action_selection: ActionSelection::Deterministic,
        }
    }
}

impl Settings {
    /// Problems with the settings, each naming its field.
    pub fn validate(&self, limits: &Limits) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.policy_len == 0 || self.policy_len > limits.max_policy_len {
            errors.push(FieldError::new(
                "policy_len",
                format!("must be between 1 and {} (max_policy_len)", limits.max_policy_len),
            ));
        }
        for (name, x) in [("gamma", self.gamma), ("alpha", self.alpha)] {
            if !(x.is_finite() && (0.0..=1e6).contains(&x)) {
                errors.push(FieldError::new(name, format!("must be a finite number between 0 and 1e6, got {x}")));
            }
        }
        errors
    }
}
