//! Scratch buffers of a step, sized once per model so the policy-tree loop never allocates.
//! Reuse one per worker thread to make steady-state steps allocation-free in the hot path.

use crate::compiled::CompiledModel;

#[derive(Debug, Default)]
pub struct Workspace {
    /// Log likelihood of the observation per joint state.
    pub(crate) ln_l: Vec<f64>,
    /// Joint (outer-product) beliefs.
    pub(crate) joint: Vec<f64>,
    /// Joint beliefs with the states below pymdp's information-gain threshold zeroed.
    pub(crate) masked: Vec<f64>,
    /// Predicted joint outcome.
    pub(crate) qo: Vec<f64>,
    /// Beliefs at each tree depth: per factor, per control, `num_states[f]` values.
    pub(crate) levels: Vec<Vec<f64>>,
    /// The posterior, factors concatenated (the tree's root).
    pub(crate) root: Vec<f64>,
    /// Offset of factor `f`'s block in a level buffer.
    pub(crate) level_offsets: Vec<usize>,
    /// Offset of factor `f` in `root`.
    pub(crate) root_offsets: Vec<usize>,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn prepare(&mut self, m: &CompiledModel) {
        let s = m.joint_states;
        resize(&mut self.ln_l, s);
        resize(&mut self.joint, s);
        resize(&mut self.masked, s);
        resize(&mut self.qo, m.num_joint_outcomes);
        self.level_offsets.clear();
        self.root_offsets.clear();
        let (mut lvl, mut root) = (0, 0);
        for (&ns, &nc) in m.num_states.iter().zip(&m.num_controls) {
            self.level_offsets.push(lvl);
            self.root_offsets.push(root);
            lvl += ns * nc;
            root += ns;
        }
        resize(&mut self.root, root);
        self.levels.resize_with(m.settings.policy_len, Vec::new);
        for l in &mut self.levels {
            resize(l, lvl);
        }
    }
}

/// Sizes a buffer without clearing it: every buffer is written before it is read in a step.
fn resize(v: &mut Vec<f64>, n: usize) {
    v.resize(n, 0.0);
}
