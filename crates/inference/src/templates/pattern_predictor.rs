//! `pattern-predictor`: learn where a repeating sequence of symbols is and predict what comes next.
//!
//! - Factor 0, the phase of the pattern (`pattern.len()` states), uncontrolled: advances by one
//!   (cyclically) with `1 − slip`, stays with `slip`. Factor 1, the agent's prediction
//!   (`num_symbols` states), controlled: action `k` sets the prediction to symbol `k`.
//! - Modality 0, the observed symbol: `pattern[phase]` with `1 − noise`, otherwise uniformly one
//!   of the others. Modality 1, feedback (0 wrong, 1 right): right with `1 − noise` when the
//!   prediction equals `pattern[phase]`, with `noise` otherwise.
//! - C: zeros for the symbol, `[0, reward_preference]` for the feedback.
//! - D: uniform over phases and predictions.
//!
//! The prediction chosen at step t is judged against the phase at step t + 1, so the agent must
//! localise itself in the pattern (information gain) to predict the next symbol (utility).

use ndarray::{Array1, Array3};
use serde_json::{Value, json};

use super::TemplateInfo;
use super::params::{ParamSpec, ParamType, Params};
use crate::error::FieldError;
use crate::model::{ModelParts, Transition};
use crate::settings::Settings;

pub(super) const NAME: &str = "pattern-predictor";

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::other(
            "pattern",
            ParamType::Integers,
            json!([0, 1, 2, 1]),
            "the repeating sequence of symbol indices (2 to 16 entries)",
        ),
        ParamSpec::int("num_symbols", 3, 2, 8, "distinct symbols (every pattern entry is below it)"),
        ParamSpec::number("slip", 0.05, 0.0, 0.5, "probability that the pattern does not advance in a step"),
        ParamSpec::number("noise", 0.1, 0.0, 0.49, "probability that an observation is wrong"),
        ParamSpec::number("reward_preference", 3.0, 0.0, 16.0, "log preference for a right prediction"),
        ParamSpec::int("horizon", 1, 1, 4, "planning horizon (policy length); num_symbols^horizon policies"),
    ]
}

pub(super) fn info() -> TemplateInfo {
    TemplateInfo {
        name: NAME,
        kind: "predictor",
        complexity: "complex",
        description: "Two factors (pattern phase, own prediction) and two modalities (symbol, feedback): localises itself in a repeating sequence and predicts the next symbol.",
        parameters: specs(),
    }
}

pub(super) fn build(value: &Value) -> Result<(ModelParts, Settings), Vec<FieldError>> {
    let specs = specs();
    let mut p = Params::new(value, &specs);
    let symbols = p.int(&specs[1]) as usize;
    let pattern = p.integers("pattern", 15, 2, 16).unwrap_or_else(|| vec![0, 1, 2, 1]);
    let slip = p.number(&specs[2]);
    let noise = p.number(&specs[3]);
    let reward = p.number(&specs[4]);
    let horizon = p.int(&specs[5]) as usize;
    if let Some(i) = pattern.iter().position(|&x| x >= symbols) {
        p.error(&format!("pattern[{i}]"), format!("symbol {} is not below num_symbols ({symbols})", pattern[i]));
    }
    p.finish()?;
    let phases = pattern.len();

    let mut a0 = Array3::<f64>::zeros((symbols, phases, symbols));
    let mut a1 = Array3::<f64>::zeros((2, phases, symbols));
    for phase in 0..phases {
        for pred in 0..symbols {
            for o in 0..symbols {
                a0[[o, phase, pred]] = if o == pattern[phase] { 1.0 - noise } else { noise / (symbols - 1) as f64 };
            }
            let right = if pred == pattern[phase] { 1.0 - noise } else { noise };
            a1[[1, phase, pred]] = right;
            a1[[0, phase, pred]] = 1.0 - right;
        }
    }
    let mut b0 = Vec::new();
    for from in 0..phases {
        b0.push(((from + 1) % phases, from, 0, 1.0 - slip));
        b0.push((from, from, 0, slip));
    }
    let mut b1 = Vec::new();
    for from in 0..symbols {
        for k in 0..symbols {
            b1.push((k, from, k, 1.0));
        }
    }
    let parts = ModelParts {
        a: vec![a0.into_dyn(), a1.into_dyn()],
        b: vec![Transition::sparse(phases, 1, &b0), Transition::sparse(symbols, symbols, &b1)],
        c: Some(vec![Array1::zeros(symbols), Array1::from(vec![0.0, reward])]),
        d: Some(vec![Array1::from_elem(phases, 1.0 / phases as f64), Array1::from_elem(symbols, 1.0 / symbols as f64)]),
        e: None,
        control_factors: None,
    };
    Ok((parts, Settings { policy_len: horizon, ..Settings::default() }))
}
