//! Model builders ("templates"): a named, parameterised generative model with its settings.
//! [`list`] describes every template and its parameters (for an API listing); [`build`] checks
//! the parameters (errors name `params.<name>`) and returns a validated model.

mod goal_optimizer;
mod grid;
mod params;
mod pattern_predictor;

use serde::Serialize;
use serde_json::Value;

use crate::error::FieldError;
use crate::limits::Limits;
use crate::model::Model;
use crate::settings::Settings;

pub use grid::{GridLabel, GridWorld, MOVES};
pub use params::{ParamSpec, ParamType};

/// A model with the settings its template chose (the horizon, mostly).
#[derive(Debug, Clone)]
pub struct Built {
    pub model: Model,
    pub settings: Settings,
}

/// What a template is, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    pub name: &'static str,
    /// The agent type the original service gave it (`explorer`, `optimizer`, `predictor`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub complexity: &'static str,
    pub description: &'static str,
    pub parameters: Vec<ParamSpec>,
}

/// Every template, in a stable order.
pub fn list() -> Vec<TemplateInfo> {
    vec![grid::info(), goal_optimizer::info(), pattern_predictor::info()]
}

/// Builds template `name` from `params` (an object; `null` means every default).
pub fn build(name: &str, params: &Value, limits: &Limits) -> Result<Built, Vec<FieldError>> {
    let built = match name {
        grid::NAME => grid::build(params)?,
        goal_optimizer::NAME => goal_optimizer::build(params)?,
        pattern_predictor::NAME => pattern_predictor::build(params)?,
        other => {
            let known: Vec<_> = list().iter().map(|t| t.name).collect();
            return Err(vec![FieldError::new(
                "template",
                format!("unknown template {other:?}; known: {}", known.join(", ")),
            )]);
        }
    };
    let (parts, settings) = built;
    let model = Model::new(parts, limits).map_err(|e| e.field_errors_under("model"))?;
    Ok(Built { model, settings })
}
