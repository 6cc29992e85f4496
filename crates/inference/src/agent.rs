//! One perception–action cycle, as pymdp 0.0.7.1's `Agent` runs `infer_states`,
//! `infer_policies` and `sample_action`. The agent's state is plain data (serde) so it can be
//! persisted between steps; a failed step (bad observation, deadline) leaves it untouched.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::compiled::{CompiledModel, EPS, softmax_in_place};
use crate::efe;
use crate::error::StepError;
use crate::infer::{entropy, infer_states};
use crate::rng::RngState;
use crate::settings::ActionSelection;
use crate::workspace::Workspace;

/// What an agent carries between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentState {
    /// Posterior per factor after the last step (empty before the first).
    pub qs: Vec<Vec<f64>>,
    /// Action per factor chosen at the last step (`None` before the first).
    pub last_action: Option<Vec<usize>>,
    pub step_count: u64,
    pub rng: RngState,
}

impl AgentState {
    /// A fresh agent: its first step starts from the prior D.
    pub fn new(seed: u64) -> Self {
        Self { qs: Vec::new(), last_action: None, step_count: 0, rng: RngState::new(seed) }
    }
}

/// The outcome of one step; `q_pi` and `G` are in policy order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    pub qs: Vec<Vec<f64>>,
    pub q_pi: Vec<f64>,
    #[serde(rename = "G")]
    pub g: Vec<f64>,
    pub action: Vec<usize>,
    /// Variational free energy of the posterior (complexity − accuracy).
    pub free_energy: f64,
    /// Entropy of the posterior, summed over factors (nats).
    pub entropy: f64,
}

/// One step with fresh scratch buffers. `deadline` is checked between policy-tree nodes.
pub fn step(
    model: &CompiledModel,
    state: &mut AgentState,
    observation: &[usize],
    deadline: Option<Instant>,
) -> Result<StepOutput, StepError> {
    step_with(model, state, observation, deadline, &mut Workspace::new())
}

/// One step reusing `ws` (keep one per worker thread).
pub fn step_with(
    model: &CompiledModel,
    state: &mut AgentState,
    observation: &[usize],
    deadline: Option<Instant>,
    ws: &mut Workspace,
) -> Result<StepOutput, StepError> {
    check_observation(model, observation)?;
    let prior = empirical_prior(model, state)?;
    ws.prepare(model);
    let (qs, free_energy) = infer_states(model, observation, &prior, ws);
    let mut g = vec![0.0; model.num_policies];
    efe::evaluate(model, &qs, deadline, ws, &mut g)?;

    let settings = &model.settings;
    let mut q_pi: Vec<f64> = g.iter().zip(&model.ln_e).map(|(g, ln_e)| g * settings.gamma + ln_e).collect();
    softmax_in_place(&mut q_pi);

    let mut rng = state.rng;
    let action = select_action(model, &q_pi, &mut rng);
    let entropy = entropy(&qs);
    state.qs.clone_from(&qs);
    state.last_action = Some(action.clone());
    state.step_count += 1;
    state.rng = rng;
    Ok(StepOutput { qs, q_pi, g, action, free_energy, entropy })
}

fn check_observation(model: &CompiledModel, observation: &[usize]) -> Result<(), StepError> {
    if observation.len() != model.num_obs.len() {
        return Err(StepError::ObservationLength { expected: model.num_obs.len(), got: observation.len() });
    }
    for (modality, (&value, &num_obs)) in observation.iter().zip(&model.num_obs).enumerate() {
        if value >= num_obs {
            return Err(StepError::ObservationOutOfRange { modality, value, num_obs });
        }
    }
    Ok(())
}

/// D at the first step; afterwards `B[f][:, :, action[f]] · qs_prev[f]` for every factor (an
/// uncontrolled factor moves through its only control).
fn empirical_prior(model: &CompiledModel, state: &AgentState) -> Result<Vec<Vec<f64>>, StepError> {
    let Some(action) = &state.last_action else {
        return Ok(model.d.clone());
    };
    let nf = model.num_states.len();
    if action.len() != nf || state.qs.len() != nf {
        return Err(StepError::StateMismatch(format!("{} factors in the state, {nf} in the model", state.qs.len())));
    }
    let mut prior = Vec::with_capacity(nf);
    for (f, &a) in action.iter().enumerate() {
        let ns = model.num_states[f];
        if state.qs[f].len() != ns || a >= model.num_controls[f] {
            return Err(StepError::StateMismatch(format!("factor {f}: {} states and action {a}", state.qs[f].len())));
        }
        let mut p = vec![0.0; ns];
        model.b[f][a].mul_vec(&state.qs[f], &mut p);
        prior.push(p);
    }
    Ok(prior)
}

/// pymdp's `sample_action` with `sampling_mode="marginal"`: per factor, `q_pi` summed by each
/// policy's first action and normalised; arg-max (ties to the lowest index) or a draw from
/// `softmax(α·ln(marginal + 1e-16))`.
fn select_action(model: &CompiledModel, q_pi: &[f64], rng: &mut RngState) -> Vec<usize> {
    let marginals = action_marginals(model, q_pi);
    marginals
        .iter()
        .map(|marg| match model.settings.action_selection {
            ActionSelection::Deterministic => argmax(marg),
            ActionSelection::Stochastic => {
                let mut p: Vec<f64> = marg.iter().map(|&x| (x + EPS).ln() * model.settings.alpha).collect();
                softmax_in_place(&mut p);
                rng.sample(&p)
            }
        })
        .collect()
}

/// The normalised first-step action marginal of every factor.
pub fn action_marginals(model: &CompiledModel, q_pi: &[f64]) -> Vec<Vec<f64>> {
    let nf = model.num_states.len();
    let width = nf * model.settings.policy_len;
    let mut marg: Vec<Vec<f64>> = model.num_controls.iter().map(|&n| vec![0.0; n]).collect();
    for (p, &w) in q_pi.iter().enumerate() {
        let first = &model.policies[p * width..p * width + nf];
        for (f, &a) in first.iter().enumerate() {
            marg[f][a as usize] += w;
        }
    }
    for m in &mut marg {
        let s: f64 = m.iter().sum();
        for x in m.iter_mut() {
            *x /= s;
        }
    }
    marg
}

/// numpy's `argmax`: the first maximum.
fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}
