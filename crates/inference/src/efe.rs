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
use crate::sparse::dot;
use crate::workspace::Workspace;

/// How many nodes are evaluated between two looks at the clock.
const DEADLINE_CHECK_EVERY: u32 = 16;

/// A timestep's buffers, reused by every node.
struct Scratch<'w> {
    joint: &'w mut [f64],
    masked: &'w mut [f64],
    qo: &'w mut [f64],
}

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
    let Workspace { levels, root, joint, masked, qo, level_offsets, .. } = ws;
    let mut scratch = Scratch { joint, masked, qo };
    tree.expand(root, &parent[..nf], levels, level_offsets, &mut scratch, 0.0, g)
}

impl Tree<'_> {
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        parent_buf: &[f64],
        parent_off: &[usize],
        levels: &mut [Vec<f64>],
        level_offsets: &[usize],
        scratch: &mut Scratch<'_>,
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
            let step_g = self.timestep_value(current, &child_off[..nf], scratch);
            if last {
                if let Some(slot) = g.get_mut(self.leaf) {
                    *slot = acc + step_g;
                }
                self.leaf += 1;
            } else {
                self.expand(current, &child_off[..nf], deeper, level_offsets, scratch, acc + step_g, g)?;
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
    fn timestep_value(&self, buf: &[f64], off: &[usize], scratch: &mut Scratch<'_>) -> f64 {
        let m = self.m;
        let settings = &m.settings;
        let Scratch { joint, masked, qo } = scratch;
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
        let utility_all = |value: f64| if settings.use_utility { value } else { 0.0 };
        if !settings.use_states_info_gain {
            return utility_all(dot(q, &m.utility));
        }
        let (utility, expected) = match &m.joint_a {
            JointLikelihood::Dense(data) => {
                let pass =
                    Pass { q, threshold: self.threshold, outcomes: data, utility: &m.utility, h: &m.neg_ambiguity };
                match qo.len() {
                    1 => pass.run::<1>(qo),
                    2 => pass.run::<2>(qo),
                    3 => pass.run::<3>(qo),
                    4 => pass.run::<4>(qo),
                    5 => pass.run::<5>(qo),
                    6 => pass.run::<6>(qo),
                    7 => pass.run::<7>(qo),
                    8 => pass.run::<8>(qo),
                    _ => pass.run_any(masked, qo),
                }
            }
            JointLikelihood::Sparse(csr) => {
                qo.fill(0.0);
                let mut expected = 0.0;
                for (s, &w) in q.iter().enumerate() {
                    if w > self.threshold {
                        expected += w * m.neg_ambiguity[s];
                        for (_, o, p) in csr.row(s) {
                            qo[o] += w * p;
                        }
                    }
                }
                (dot(q, &m.utility), expected)
            }
        };
        let predicted: f64 = qo.iter().map(|&x| x * (x + EPS).ln()).sum();
        utility_all(utility) + (expected - predicted)
    }
}

/// One timestep's sums over a dense joint likelihood: the expected utility (all states), and, over
/// the states above pymdp's threshold, the expected ambiguity and the predicted outcome.
struct Pass<'a> {
    q: &'a [f64],
    threshold: f64,
    /// Outcome-major rows of `po(o|s)`.
    outcomes: &'a [f64],
    utility: &'a [f64],
    h: &'a [f64],
}

impl Pass<'_> {
    /// Every sum in one walk over the states, two states at a time with a running sum per lane
    /// and outcome: `O` known at compile time keeps every running sum in a register, and the
    /// two independent lanes become vector instructions.
    #[inline]
    fn run<const O: usize>(&self, qo: &mut [f64]) -> (f64, f64) {
        let n = self.q.len();
        let (qc, q_tail) = self.q.as_chunks::<2>();
        let pairs = qc.len();
        let uc = &self.utility[..n].as_chunks::<2>().0[..pairs];
        let hc = &self.h[..n].as_chunks::<2>().0[..pairs];
        let rows: [&[[f64; 2]]; O] =
            std::array::from_fn(|o| &self.outcomes[o * n..(o + 1) * n].as_chunks::<2>().0[..pairs]);
        let mask = |w: f64| if w > self.threshold { w } else { 0.0 };
        let mut acc = [[0.0f64; 2]; O];
        let (mut util, mut amb) = ([0.0f64; 2], [0.0f64; 2]);
        for i in 0..pairs {
            let w = qc[i];
            let m = [mask(w[0]), mask(w[1])];
            let (u, h) = (uc[i], hc[i]);
            for l in 0..2 {
                util[l] += w[l] * u[l];
                amb[l] += m[l] * h[l];
            }
            for o in 0..O {
                let r = rows[o][i];
                for l in 0..2 {
                    acc[o][l] += m[l] * r[l];
                }
            }
        }
        let (mut util, mut amb) = (util[0] + util[1], amb[0] + amb[1]);
        let mut sums: [f64; O] = std::array::from_fn(|o| acc[o][0] + acc[o][1]);
        if let [w] = *q_tail {
            let s = n - 1;
            let m = mask(w);
            util += w * self.utility[s];
            amb += m * self.h[s];
            for (sum, row) in sums.iter_mut().zip(self.outcomes.chunks_exact(n)) {
                *sum += m * row[s];
            }
        }
        qo[..O].copy_from_slice(&sums);
        (util, amb)
    }

    /// Any number of outcomes: the weights masked once, then a dot product per outcome.
    fn run_any(&self, masked: &mut [f64], qo: &mut [f64]) -> (f64, f64) {
        let n = self.q.len();
        for (x, &w) in masked.iter_mut().zip(self.q) {
            *x = if w > self.threshold { w } else { 0.0 };
        }
        for (o, row) in qo.iter_mut().zip(self.outcomes.chunks_exact(n)) {
            *o = dot(masked, row);
        }
        (dot(self.q, self.utility), dot(masked, self.h))
    }
}
