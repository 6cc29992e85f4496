//! Expected free energy of every policy, evaluated as a tree: the beliefs predicted after a
//! prefix of actions are computed once and shared by every policy that starts with it. Leaves
//! are visited in pymdp's policy order, so `G[leaf]` lines up with `construct_policies`.
//!
//! pymdp's `G` is the *negative* expected free energy (higher is better), summed over the
//! policy's timesteps, each timestep contributing
//! `Σ_s q(s)·utility[s]` (expected utility) and
//! `Σ_{q(s) > e^-16} q(s)·neg_ambiguity[s] − qo·ln(qo + 1e-16)` with
//! `qo = Σ_{q(s) > e^-16} q(s)·po(·|s)` (the joint-outcome state information gain of `spm_MDP_G`).

use std::time::Instant;

use crate::compiled::{CompiledModel, EPS, HARD_MAX_FACTORS, JointLikelihood};
use crate::error::StepError;
use crate::infer::outer_product;
use crate::workspace::Workspace;

/// How many nodes are evaluated between two looks at the clock.
const DEADLINE_CHECK_EVERY: u32 = 16;

struct Tree<'a> {
    m: &'a CompiledModel,
    threshold: f64,
    deadline: Option<Instant>,
    since_check: u32,
    leaf: usize,
}

/// Fills `g` (one entry per policy) with pymdp's `G` for beliefs `qs`.
pub(crate) fn evaluate(
    m: &CompiledModel,
    qs: &[Vec<f64>],
    deadline: Option<Instant>,
    ws: &mut Workspace,
    g: &mut [f64],
) -> Result<(), StepError> {
    let nf = m.num_states.len();
    for (f, q) in qs.iter().enumerate() {
        let off = ws.root_offsets[f];
        ws.root[off..off + q.len()].copy_from_slice(q);
    }
    let mut parent = [0usize; HARD_MAX_FACTORS];
    parent[..nf].copy_from_slice(&ws.root_offsets);
    let mut tree = Tree { m, threshold: (-16.0f64).exp(), deadline, since_check: 0, leaf: 0 };
    let Workspace { levels, root, joint, qo, level_offsets, .. } = ws;
    tree.expand(root, &parent[..nf], levels, level_offsets, joint, qo, 0.0, g)
}

impl Tree<'_> {
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        parent_buf: &[f64],
        parent_off: &[usize],
        levels: &mut [Vec<f64>],
        level_offsets: &[usize],
        joint: &mut [f64],
        qo: &mut [f64],
        acc: f64,
        g: &mut [f64],
    ) -> Result<(), StepError> {
        let m = self.m;
        let nf = m.num_states.len();
        let (current, deeper) = match levels.split_first_mut() {
            Some(x) => x,
            None => return Ok(()),
        };
        // Predicted beliefs per factor and control, once for every child of this node.
        for f in 0..nf {
            let ns = m.num_states[f];
            let src = &parent_buf[parent_off[f]..parent_off[f] + ns];
            for (c, b) in m.b[f].iter().enumerate() {
                let off = level_offsets[f] + c * ns;
                b.mul_vec(src, &mut current[off..off + ns]);
            }
        }
        let current: &[f64] = current;
        let last = deeper.is_empty();
        let mut action = [0usize; HARD_MAX_FACTORS];
        let mut child_off = [0usize; HARD_MAX_FACTORS];
        for _ in 0..m.branching {
            self.check_deadline()?;
            for f in 0..nf {
                child_off[f] = level_offsets[f] + action[f] * m.num_states[f];
            }
            let step_g = self.timestep_value(current, &child_off[..nf], joint, qo);
            if last {
                if let Some(slot) = g.get_mut(self.leaf) {
                    *slot = acc + step_g;
                }
                self.leaf += 1;
            } else {
                self.expand(current, &child_off[..nf], deeper, level_offsets, joint, qo, acc + step_g, g)?;
            }
            // Next joint action, last factor fastest (itertools.product order).
            for f in (0..nf).rev() {
                action[f] += 1;
                if action[f] < m.num_controls[f] {
                    break;
                }
                action[f] = 0;
            }
        }
        Ok(())
    }

    fn check_deadline(&mut self) -> Result<(), StepError> {
        if let Some(deadline) = self.deadline {
            self.since_check += 1;
            if self.since_check >= DEADLINE_CHECK_EVERY {
                self.since_check = 0;
                if Instant::now() >= deadline {
                    return Err(StepError::DeadlineExceeded);
                }
            }
        }
        Ok(())
    }

    /// Utility plus state information gain of one timestep's predicted beliefs.
    fn timestep_value(&self, buf: &[f64], off: &[usize], joint: &mut [f64], qo: &mut [f64]) -> f64 {
        let m = self.m;
        let settings = &m.settings;
        let q: &[f64] = if off.len() == 1 {
            &buf[off[0]..off[0] + m.num_states[0]]
        } else {
            let mut factors: [&[f64]; HARD_MAX_FACTORS] = [&[]; HARD_MAX_FACTORS];
            for (f, &o) in off.iter().enumerate() {
                factors[f] = &buf[o..o + m.num_states[f]];
            }
            outer_product(&factors[..off.len()], joint);
            joint
        };
        let mut value = 0.0;
        if settings.use_utility {
            value += q.iter().zip(&m.utility).map(|(a, b)| a * b).sum::<f64>();
        }
        if settings.use_states_info_gain {
            qo.fill(0.0);
            let mut expected = 0.0;
            match &m.joint_a {
                JointLikelihood::Dense(data) => {
                    let width = qo.len();
                    for ((&w, &h), row) in q.iter().zip(&m.neg_ambiguity).zip(data.chunks_exact(width)) {
                        if w > self.threshold {
                            expected += w * h;
                            for (acc, &p) in qo.iter_mut().zip(row) {
                                *acc += w * p;
                            }
                        }
                    }
                }
                JointLikelihood::Sparse(csr) => {
                    for (s, &w) in q.iter().enumerate() {
                        if w > self.threshold {
                            expected += w * m.neg_ambiguity[s];
                            for (_, o, p) in csr.row(s) {
                                qo[o] += w * p;
                            }
                        }
                    }
                }
            }
            let predicted: f64 = qo.iter().map(|&x| x * (x + EPS).ln()).sum();
            value += expected - predicted;
        }
        value
    }
}
