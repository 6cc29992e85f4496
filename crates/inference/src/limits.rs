//! Size limits that keep one request from exhausting memory or time. Every one is configurable;
//! the defaults admit the templates at their largest and a 20×20 grid at horizon 5.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// States of one hidden-state factor.
    pub max_states_per_factor: usize,
    /// Hidden-state factors.
    pub max_factors: usize,
    /// Observation modalities.
    pub max_modalities: usize,
    /// Outcomes of one modality.
    pub max_observations_per_modality: usize,
    /// Policies (the product of every factor's controls, to the power of the policy length).
    pub max_policies: usize,
    /// Policy length (planning horizon).
    pub max_policy_len: usize,
    /// Stored tensor elements: the model's tensors (non-zeros of sparse ones) plus the compiled
    /// joint state and outcome tables.
    pub max_tensor_elements: usize,
    /// Estimated operations of one step (policy-tree nodes × (joint states + non-zeros of the joint
    /// likelihood)); bounds the time of a step before it starts.
    pub max_work_per_step: u64,
    /// Observations in one stateless run.
    pub max_steps_per_run: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_states_per_factor: 4096,
            max_factors: 8,
            max_modalities: 8,
            max_observations_per_modality: 1024,
            max_policies: 4096,
            max_policy_len: 8,
            max_tensor_elements: 4_000_000,
            max_work_per_step: 500_000_000,
            max_steps_per_run: 1000,
        }
    }
}
