//! A model prepared for stepping: everything that does not depend on beliefs is computed once
//! and shared (`Arc<CompiledModel>`) by every agent of the same model and settings.
//!
//! Precomputed per joint hidden state `s` (all factors together, C order as in A):
//! - `utility[s] = Σ_m Σ_o A_m[o, s] · ln(softmax(C_m)[o] + 1e-16)`, so the expected utility of
//!   predicted beliefs `q` is `Σ_s q(s)·utility[s]` (pymdp's `Σ_m qo_m · ln C_m`);
//! - `neg_ambiguity[s] = Σ_o po(o|s) · ln(po(o|s) + e^-16)` over the joint outcome of all
//!   modalities (`po = ⊗_m A_m[:, s]`), pymdp's per-state term of `spm_MDP_G`;
//! - the joint outcome columns `po(·|s)` as a sparse table, for the predicted outcome `qo`.

use crate::error::{FieldError, ModelError, ModelErrors, Rule};
use crate::limits::Limits;
use crate::model::{Model, hex};
use crate::policy;
use crate::settings::Settings;
use crate::sparse::{Csr, Mat};

/// The engine keeps per-factor bookkeeping on the stack; models are limited to this many factors
/// whatever the configured limit.
pub const HARD_MAX_FACTORS: usize = 16;

/// pymdp's `EPS_VAL`.
pub(crate) const EPS: f64 = 1e-16;

/// Why a model cannot be compiled with some settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("invalid model: {0}")]
    Model(ModelErrors),
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Settings(Vec<FieldError>),
}

impl CompileError {
    /// `{field, message}` pairs; model fields are prefixed with `model_prefix` (e.g. `model`).
    pub fn field_errors(&self, model_prefix: &str) -> Vec<FieldError> {
        match self {
            CompileError::Model(e) if model_prefix.is_empty() => e.field_errors(),
            CompileError::Model(e) => e.field_errors_under(model_prefix),
            CompileError::Settings(e) => e.clone(),
        }
    }
}

/// `po(o|s)` for every joint state (rows) and joint outcome (columns).
#[derive(Debug)]
pub(crate) enum JointLikelihood {
    /// Outcome-major, `num_joint_outcomes × joint_states`: each outcome's probability under
    /// every state is one contiguous row, so the predicted outcome is a dot product per outcome.
    Dense(Vec<f64>),
    Sparse(Csr),
}

#[derive(Debug)]
pub struct CompiledModel {
    pub(crate) num_states: Vec<usize>,
    pub(crate) num_obs: Vec<usize>,
    pub(crate) num_controls: Vec<usize>,
    pub(crate) control_factors: Vec<usize>,
    pub(crate) joint_states: usize,
    /// `A_m` flattened `[o * joint_states + s]`.
    pub(crate) a: Vec<Vec<f64>>,
    pub(crate) utility: Vec<f64>,
    pub(crate) neg_ambiguity: Vec<f64>,
    /// Rows: joint states; columns: joint outcomes.
    pub(crate) joint_a: JointLikelihood,
    pub(crate) num_joint_outcomes: usize,
    /// `[factor][control]`.
    pub(crate) b: Vec<Vec<Mat>>,
    pub(crate) d: Vec<Vec<f64>>,
    /// `ln(E + 1e-16)` per policy.
    pub(crate) ln_e: Vec<f64>,
    /// `[policy][timestep][factor]`.
    pub(crate) policies: Vec<u32>,
    pub(crate) num_policies: usize,
    /// Joint actions per policy-tree node (the product of every factor's controls).
    pub(crate) branching: usize,
    pub(crate) settings: Settings,
    pub(crate) key: String,
}

impl CompiledModel {
    pub fn new(model: &Model, settings: &Settings, limits: &Limits) -> Result<CompiledModel, CompileError> {
        let errors = settings.validate(limits);
        if !errors.is_empty() {
            return Err(CompileError::Settings(errors));
        }
        let model_err = |tensor: &str, rule: Rule, msg: String| {
            CompileError::Model(ModelErrors::single(ModelError::new(tensor, vec![], rule, msg)))
        };
        let num_states = model.num_states();
        let num_obs = model.num_obs();
        let num_controls = model.num_controls();
        if num_states.len() > HARD_MAX_FACTORS {
            return Err(model_err(
                "B",
                Rule::Limit,
                format!("{} factors, the engine supports at most {HARD_MAX_FACTORS}", num_states.len()),
            ));
        }
        let num_policies = match policy::count(&num_controls, settings.policy_len) {
            Some(n) if n <= limits.max_policies => n,
            n => {
                return Err(CompileError::Settings(vec![FieldError::new(
                    "policy_len",
                    format!(
                        "{} policies ({} joint actions per step over {} steps), at most {} (max_policies)",
                        n.map_or_else(|| "too many".to_string(), |n| n.to_string()),
                        num_controls.iter().product::<usize>(),
                        settings.policy_len,
                        limits.max_policies
                    ),
                )]));
            }
        };
        let budget = limits.max_tensor_elements;
        let joint_states = num_states.iter().product::<usize>();
        let num_joint_outcomes = num_obs.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)).filter(|&n| n <= budget);
        let Some(num_joint_outcomes) = num_joint_outcomes else {
            return Err(model_err(
                "A",
                Rule::Limit,
                format!("the joint outcome space of all modalities exceeds {budget} (max_tensor_elements)"),
            ));
        };
        let a: Vec<Vec<f64>> = model.a.iter().map(|t| t.as_standard_layout().iter().copied().collect()).collect();

        // Joint outcome columns: count first so a dense multi-modality model cannot allocate
        // past the budget.
        let mut joint_nnz: usize = 0;
        for s in 0..joint_states {
            let per_state = a.iter().zip(&num_obs).try_fold(1usize, |acc, (am, &no)| {
                acc.checked_mul((0..no).filter(|&o| am[o * joint_states + s] != 0.0).count())
            });
            joint_nnz = per_state.and_then(|n| joint_nnz.checked_add(n)).unwrap_or(usize::MAX);
        }
        if joint_nnz > budget {
            return Err(model_err(
                "A",
                Rule::Limit,
                format!(
                    "the joint likelihood of all modalities has {joint_nnz} non-zeros, more than {budget} (max_tensor_elements)"
                ),
            ));
        }
        let nodes = tree_nodes(num_controls.iter().product(), settings.policy_len);
        let work = (nodes as u64).saturating_mul((joint_states + joint_nnz + num_joint_outcomes) as u64);
        if work > limits.max_work_per_step {
            return Err(CompileError::Settings(vec![FieldError::new(
                "policy_len",
                format!(
                    "a step would take about {work} operations ({nodes} policy-tree nodes), more than {} (max_work_per_step)",
                    limits.max_work_per_step
                ),
            )]));
        }

        let ln_c: Vec<Vec<f64>> =
            model.c.iter().map(|c| softmax(&c.to_vec()).into_iter().map(|p| (p + EPS).ln()).collect()).collect();
        let eps16 = (-16.0f64).exp();
        let mut utility = vec![0.0; joint_states];
        let mut neg_ambiguity = vec![0.0; joint_states];
        let mut triplets = Vec::with_capacity(joint_nnz);
        let mut po: Vec<(usize, f64)> = Vec::new();
        let mut next: Vec<(usize, f64)> = Vec::new();
        for s in 0..joint_states {
            let mut u = 0.0;
            for (m, am) in a.iter().enumerate() {
                for (o, lc) in ln_c[m].iter().enumerate() {
                    u += am[o * joint_states + s] * lc;
                }
            }
            utility[s] = u;
            // Kronecker product of the modalities' columns, first modality slowest.
            po.clear();
            po.push((0, 1.0));
            for (m, am) in a.iter().enumerate() {
                next.clear();
                for &(idx, p) in &po {
                    for o in 0..num_obs[m] {
                        let x = am[o * joint_states + s];
                        if x != 0.0 {
                            next.push((idx * num_obs[m] + o, p * x));
                        }
                    }
                }
                std::mem::swap(&mut po, &mut next);
            }
            neg_ambiguity[s] = po.iter().map(|&(_, p)| p * (p + eps16).ln()).sum();
            triplets.extend(po.iter().map(|&(o, p)| (s, o, p)));
        }
        // Mostly non-zero (noisy likelihoods, like the grid's): contiguous rows the loop streams
        // through; otherwise sparse rows. Zeros add nothing to `qo`, so both give the same sums.
        let joint_a = if triplets.len().saturating_mul(2) >= joint_states.saturating_mul(num_joint_outcomes) {
            let mut data = vec![0.0; joint_states * num_joint_outcomes];
            for &(s, o, p) in &triplets {
                data[o * joint_states + s] = p;
            }
            JointLikelihood::Dense(data)
        } else {
            JointLikelihood::Sparse(Csr::from_triplets(joint_states, num_joint_outcomes, triplets))
        };

        let b = model.b.iter().map(|t| (0..t.num_controls()).map(|c| t.matrix(c)).collect()).collect();
        let d = model.d.iter().map(|d| d.to_vec()).collect();
        let ln_e = match &model.e {
            None => vec![(1.0 / num_policies as f64 + EPS).ln(); num_policies],
            Some(e) if e.len() == num_policies => e.iter().map(|&x| (x + EPS).ln()).collect(),
            Some(e) => {
                return Err(CompileError::Model(ModelErrors::single(ModelError::new(
                    "E",
                    vec![],
                    Rule::Shape,
                    format!(
                        "length {}, expected one entry per policy ({num_policies} with policy_len {})",
                        e.len(),
                        settings.policy_len
                    ),
                ))));
            }
        };
        let policies = policy::enumerate(&num_controls, settings.policy_len, num_policies);
        let key = format!("{}:{}", model.content_hash(), settings_key(settings));
        Ok(CompiledModel {
            branching: num_controls.iter().product(),
            num_states,
            num_obs,
            num_controls,
            control_factors: model.control_factors.clone(),
            joint_states,
            a,
            utility,
            neg_ambiguity,
            joint_a,
            num_joint_outcomes,
            b,
            d,
            ln_e,
            policies,
            num_policies,
            settings: settings.clone(),
            key,
        })
    }

    pub fn num_states(&self) -> &[usize] {
        &self.num_states
    }

    pub fn num_obs(&self) -> &[usize] {
        &self.num_obs
    }

    pub fn num_controls(&self) -> &[usize] {
        &self.num_controls
    }

    pub fn control_factors(&self) -> &[usize] {
        &self.control_factors
    }

    /// The prior over each factor's states (D): the beliefs of an agent before its first step.
    pub fn prior(&self) -> Vec<Vec<f64>> {
        self.d.clone()
    }

    pub fn num_policies(&self) -> usize {
        self.num_policies
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Policy `p` as `[timestep][factor]` action indices.
    pub fn policy(&self, p: usize) -> Vec<Vec<usize>> {
        let nf = self.num_states.len();
        let width = nf * self.settings.policy_len;
        self.policies[p * width..(p + 1) * width].chunks(nf).map(|t| t.iter().map(|&a| a as usize).collect()).collect()
    }

    /// Every policy as `[policy][timestep][factor]`, in pymdp's order.
    pub fn policies(&self) -> Vec<Vec<Vec<usize>>> {
        (0..self.num_policies).map(|p| self.policy(p)).collect()
    }

    /// Model content hash and settings: the key of an in-process compiled-model cache.
    pub fn cache_key(&self) -> &str {
        &self.key
    }

    /// Heap bytes held by this compiled model (the memory one more cached model costs).
    pub fn heap_bytes(&self) -> usize {
        let v = |n: usize| n * 8;
        self.a.iter().map(|x| v(x.capacity())).sum::<usize>()
            + v(self.utility.capacity())
            + v(self.neg_ambiguity.capacity())
            + match &self.joint_a {
                JointLikelihood::Dense(d) => d.capacity() * 8,
                JointLikelihood::Sparse(c) => c.heap_bytes(),
            }
            + self.b.iter().flatten().map(Mat::heap_bytes).sum::<usize>()
            + self.d.iter().map(|x| v(x.capacity())).sum::<usize>()
            + v(self.ln_e.capacity())
            + self.policies.capacity() * 4
            + self.key.capacity()
            + 8 * (self.num_states.capacity()
                + self.num_obs.capacity()
                + self.num_controls.capacity()
                + self.control_factors.capacity())
    }
}

/// The settings' part of the cache key (α and action selection do not change the compiled
/// tables but are carried with them, so they belong to the key).
fn settings_key(s: &Settings) -> String {
    let mut h = sha2::Sha256::new();
    use sha2::Digest;
    h.update((s.policy_len as u64).to_le_bytes());
    h.update(s.gamma.to_bits().to_le_bytes());
    h.update(s.alpha.to_bits().to_le_bytes());
    h.update([s.use_utility as u8, s.use_states_info_gain as u8, s.action_selection as u8]);
    hex(&h.finalize()[..8])
}

/// Nodes of a policy tree with `branching` children per node and `depth` levels.
pub(crate) fn tree_nodes(branching: usize, depth: usize) -> usize {
    let mut level = 1usize;
    let mut total = 0usize;
    for _ in 0..depth {
        level = level.saturating_mul(branching);
        total = total.saturating_add(level);
    }
    total
}

/// pymdp's `softmax`: shift by the maximum, exponentiate, normalise.
pub(crate) fn softmax(x: &[f64]) -> Vec<f64> {
    let mut out = x.to_vec();
    softmax_in_place(&mut out);
    out
}

pub(crate) fn softmax_in_place(x: &mut [f64]) {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for v in x.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f64 = x.iter().sum();
    for v in x.iter_mut() {
        *v /= sum;
    }
}
