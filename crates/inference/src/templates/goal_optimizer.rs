//! `goal-optimizer`: find which of several goal positions pays off, and go there.
//!
//! - Factor 0, position on a track of `length` cells, controlled by three actions (0 left,
//!   1 stay, 2 right): a move succeeds with `1 − slip` and otherwise stays; a move past either end
//!   stays. Factor 1, the active goal (one of `num_goals` evenly spaced positions
//!   `k·(length−1)/(num_goals−1)`, rounded down), uncontrolled: it stays with `1 − volatility`
//!   and otherwise jumps to a uniformly drawn goal (possibly the same).
//! - Modality 0 reports the position: right with `1 − noise`, otherwise uniformly one of the
//!   others. Modality 1 is the reward (0 nothing, 1 reward): reward with `1 − noise` at the
//!   active goal's position and with `noise` elsewhere.
//! - C: zeros for the position, `[0, reward_preference]` for the reward.
//! - D: the start position for certain, the active goal uniform.

use ndarray::{Array1, Array3};
use serde_json::Value;

use super::TemplateInfo;
use super::params::{ParamSpec, Params};
use crate::error::FieldError;
use crate::model::{ModelParts, Transition};
use crate::settings::Settings;

pub(super) const NAME: &str = "goal-optimizer";

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::int("length", 8, 2, 32, "cells of the track"),
        ParamSpec::int("num_goals", 2, 2, 4, "candidate goal positions, evenly spaced from one end to the other"),
        ParamSpec::int("start", -1, -1, 31, "start cell; -1 means the middle (length / 2)"),
        ParamSpec::number("slip", 0.1, 0.0, 0.5, "probability that a move fails and the agent stays"),
        ParamSpec::number("volatility", 0.05, 0.0, 0.5, "probability per step that the active goal is redrawn"),
        ParamSpec::number("noise", 0.1, 0.0, 0.49, "probability that an observation is wrong"),
        ParamSpec::number("reward_preference", 4.0, 0.0, 16.0, "log preference for the reward outcome"),
        ParamSpec::int("horizon", 2, 1, 6, "planning horizon (policy length); 3^horizon policies"),
    ]
}

pub(super) fn info() -> TemplateInfo {
    TemplateInfo {
        name: NAME,
        kind: "optimizer",
        complexity: "moderate",
        description: "Track with several candidate goals, one of them active and drifting: explores to learn which pays, then exploits it.",
        parameters: specs(),
    }
}

pub(super) fn build(value: &Value) -> Result<(ModelParts, Settings), Vec<FieldError>> {
    let specs = specs();
    let mut p = Params::new(value, &specs);
    let length = p.int(&specs[0]) as usize;
    let goals = p.int(&specs[1]) as usize;
    let start = p.int(&specs[2]);
    let slip = p.number(&specs[3]);
    let volatility = p.number(&specs[4]);
    let noise = p.number(&specs[5]);
    let reward = p.number(&specs[6]);
    let horizon = p.int(&specs[7]) as usize;
    let start = if start < 0 { length / 2 } else { start as usize };
    if start >= length {
        p.error("start", format!("must be below length ({length})"));
    }
    p.finish()?;
    let goal_pos: Vec<usize> = (0..goals).map(|k| k * (length - 1) / (goals - 1)).collect();

    let mut a0 = Array3::<f64>::zeros((length, length, goals));
    let mut a1 = Array3::<f64>::zeros((2, length, goals));
    for pos in 0..length {
        for g in 0..goals {
            for o in 0..length {
                a0[[o, pos, g]] = if o == pos { 1.0 - noise } else { noise / (length - 1) as f64 };
            }
            let hit = if goal_pos[g] == pos { 1.0 - noise } else { noise };
            a1[[1, pos, g]] = hit;
            a1[[0, pos, g]] = 1.0 - hit;
        }
    }
    let mut b0 = Vec::new();
    for from in 0..length {
        for (action, delta) in [-1isize, 0, 1].into_iter().enumerate() {
            let to = from as isize + delta;
            if delta == 0 || to < 0 || to >= length as isize {
                b0.push((from, from, action, 1.0));
            } else {
                b0.push((to as usize, from, action, 1.0 - slip));
                b0.push((from, from, action, slip));
            }
        }
    }
    let mut b1 = Array3::<f64>::zeros((goals, goals, 1));
    for to in 0..goals {
        for from in 0..goals {
            b1[[to, from, 0]] = volatility / goals as f64 + if to == from { 1.0 - volatility } else { 0.0 };
        }
    }
    let mut d0 = Array1::zeros(length);
    d0[start] = 1.0;
    let parts = ModelParts {
        a: vec![a0.into_dyn(), a1.into_dyn()],
        b: vec![Transition::sparse(length, 3, &b0), Transition::from_dense(b1)],
        c: Some(vec![Array1::zeros(length), Array1::from(vec![0.0, reward])]),
        d: Some(vec![d0, Array1::from_elem(goals, 1.0 / goals as f64)]),
        e: None,
        control_factors: None,
    };
    Ok((parts, Settings { policy_len: horizon, ..Settings::default() }))
}
