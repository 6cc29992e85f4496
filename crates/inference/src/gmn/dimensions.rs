//! What a converted GMN spec is: the model, its settings and the dimensions a validation
//! request answers.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::Model;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorDimension {
    pub id: String,
    pub num_states: usize,
    pub num_controls: usize,
    /// The action node controlling this factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModalityDimension {
    pub id: String,
    pub num_observations: usize,
}

/// What a valid spec describes: the answer of a validation request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimensions {
    pub factors: Vec<FactorDimension>,
    pub modalities: Vec<ModalityDimension>,
    pub num_states: Vec<usize>,
    pub num_obs: Vec<usize>,
    pub num_controls: Vec<usize>,
    pub control_factors: Vec<usize>,
    pub policy_len: usize,
    pub num_policies: usize,
    pub nodes: usize,
    pub edges: usize,
}

/// A converted spec.
#[derive(Debug, Clone)]
pub struct GmnModel {
    pub model: Model,
    pub settings: Settings,
    pub dimensions: Dimensions,
    pub metadata: Map<String, Value>,
}
