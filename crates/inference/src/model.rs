//! The discrete POMDP generative model in pymdp's layout:
//! `A[m]` with shape `[num_obs[m], num_states[0], …, num_states[F-1]]`,
//! `B[f]` with shape `[num_states[f], num_states[f], num_controls[f]]` (`B[f][to, from, control]`),
//! `C[m]` log preferences over outcomes, `D[f]` initial state priors, optional policy prior `E`.
//! A `Model` is always valid: it can only be built through [`Model::new`] or
//! [`Model::from_json`], which check shapes, normalisation, signs and limits.

use ndarray::{Array1, Array3, ArrayD};
use sha2::{Digest, Sha256};

use crate::error::ModelErrors;
use crate::limits::Limits;
use crate::sparse::{Csr, Mat, SPARSE_DENSITY};

/// The transition tensor of one factor, dense or sparse (`B[to, from, control]`).
#[derive(Debug, Clone)]
pub enum Transition {
    Dense(Array3<f64>),
    /// One `num_states × num_states` matrix per control, rows indexed by the next state.
    Sparse {
        num_states: usize,
        controls: Vec<Csr>,
    },
}

impl Transition {
    /// A sparse transition from `(to, from, control, probability)` entries (duplicates summed).
    pub fn sparse(num_states: usize, num_controls: usize, entries: &[(usize, usize, usize, f64)]) -> Self {
        let mut per_control = vec![Vec::new(); num_controls];
        for &(to, from, c, p) in entries {
            if let Some(list) = per_control.get_mut(c) {
                list.push((to, from, p));
            }
        }
        Transition::Sparse {
            num_states,
            controls: per_control.into_iter().map(|e| Csr::from_triplets(num_states, num_states, e)).collect(),
        }
    }

    /// Stores a dense tensor sparse when most of it is zero.
    pub(crate) fn from_dense(t: Array3<f64>) -> Self {
        let nnz = t.iter().filter(|&&x| x != 0.0).count();
        if (nnz as f64) < SPARSE_DENSITY * t.len() as f64 {
            let (n, _, nc) = t.dim();
            let entries: Vec<_> =
                t.indexed_iter().filter(|(_, v)| **v != 0.0).map(|((to, from, c), &v)| (to, from, c, v)).collect();
            Transition::sparse(n, nc, &entries)
        } else {
            Transition::Dense(t)
        }
    }

    pub fn num_states(&self) -> usize {
        match self {
            Transition::Dense(t) => t.dim().0,
            Transition::Sparse { num_states, .. } => *num_states,
        }
    }

    /// The `from` dimension (equal to `num_states` in a valid model).
    pub(crate) fn source_states(&self) -> usize {
        match self {
            Transition::Dense(t) => t.dim().1,
            Transition::Sparse { num_states, .. } => *num_states,
        }
    }

    pub fn num_controls(&self) -> usize {
        match self {
            Transition::Dense(t) => t.dim().2,
            Transition::Sparse { controls, .. } => controls.len(),
        }
    }

    pub fn is_sparse(&self) -> bool {
        matches!(self, Transition::Sparse { .. })
    }

    /// Elements held in memory (non-zeros of a sparse tensor).
    pub fn stored_elements(&self) -> usize {
        match self {
            Transition::Dense(t) => t.len(),
            Transition::Sparse { controls, .. } => controls.iter().map(Csr::nnz).sum(),
        }
    }

    /// Every stored entry as `(to, from, control, value)`; for a dense tensor including zeros.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, usize, usize, f64)) {
        match self {
            Transition::Dense(t) => {
                for ((to, from, c), &v) in t.indexed_iter() {
                    f(to, from, c, v)
                }
            }
            Transition::Sparse { controls, .. } => {
                for (c, m) in controls.iter().enumerate() {
                    for (to, from, v) in m.iter() {
                        f(to, from, c, v)
                    }
                }
            }
        }
    }

    /// Non-zeros sorted by `(to, from, control)`: the canonical form for hashing and equality.
    pub(crate) fn nonzeros(&self) -> Vec<(usize, usize, usize, f64)> {
        let mut out = Vec::new();
        self.for_each(|to, from, c, v| {
            if v != 0.0 {
                out.push((to, from, c, v))
            }
        });
        out.sort_by_key(|e| (e.0, e.1, e.2));
        out
    }

    pub fn to_dense(&self) -> Array3<f64> {
        match self {
            Transition::Dense(t) => t.clone(),
            Transition::Sparse { num_states, controls } => {
                let mut t = Array3::zeros((*num_states, *num_states, controls.len()));
                for (c, m) in controls.iter().enumerate() {
                    for (to, from, v) in m.iter() {
                        t[[to, from, c]] = v;
                    }
                }
                t
            }
        }
    }

    /// The matrix of one control for the engine, in the storage its density calls for.
    pub(crate) fn matrix(&self, control: usize) -> Mat {
        match self {
            Transition::Dense(t) => {
                let n = t.dim().0;
                let mut entries = Vec::new();
                for to in 0..n {
                    for from in 0..n {
                        let v = t[[to, from, control]];
                        if v != 0.0 {
                            entries.push((to, from, v));
                        }
                    }
                }
                Mat::from_triplets(n, entries)
            }
            Transition::Sparse { num_states, controls } => {
                let m = &controls[control];
                Mat::from_triplets(*num_states, m.iter().collect())
            }
        }
    }
}

/// The parts of a model before validation. `C` defaults to zeros, `D` to uniform, `E` to
/// uniform over policies, `control_factors` to the factors with more than one control.
#[derive(Debug, Clone, Default)]
pub struct ModelParts {
    pub a: Vec<ArrayD<f64>>,
    pub b: Vec<Transition>,
    pub c: Option<Vec<Array1<f64>>>,
    pub d: Option<Vec<Array1<f64>>>,
    pub e: Option<Array1<f64>>,
    pub control_factors: Option<Vec<usize>>,
}

/// A validated generative model.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) a: Vec<ArrayD<f64>>,
    pub(crate) b: Vec<Transition>,
    pub(crate) c: Vec<Array1<f64>>,
    pub(crate) d: Vec<Array1<f64>>,
    pub(crate) e: Option<Array1<f64>>,
    pub(crate) control_factors: Vec<usize>,
}

impl Model {
    /// Validates `parts` against the rules and `limits`; every problem found (up to
    /// [`crate::error::MAX_REPORTED_ERRORS`]) is reported.
    pub fn new(parts: ModelParts, limits: &Limits) -> Result<Model, ModelErrors> {
        crate::validate::validate(parts, limits)
    }

    pub fn num_factors(&self) -> usize {
        self.b.len()
    }

    pub fn num_modalities(&self) -> usize {
        self.a.len()
    }

    pub fn num_states(&self) -> Vec<usize> {
        self.b.iter().map(Transition::num_states).collect()
    }

    pub fn num_obs(&self) -> Vec<usize> {
        self.a.iter().map(|a| a.shape()[0]).collect()
    }

    pub fn num_controls(&self) -> Vec<usize> {
        self.b.iter().map(Transition::num_controls).collect()
    }

    /// Factors with more than one control (pymdp's `control_fac_idx`).
    pub fn control_factors(&self) -> &[usize] {
        &self.control_factors
    }

    pub fn a(&self) -> &[ArrayD<f64>] {
        &self.a
    }

    pub fn b(&self) -> &[Transition] {
        &self.b
    }

    pub fn c(&self) -> &[Array1<f64>] {
        &self.c
    }

    pub fn d(&self) -> &[Array1<f64>] {
        &self.d
    }

    pub fn e(&self) -> Option<&Array1<f64>> {
        self.e.as_ref()
    }

    /// Elements the model holds in memory (non-zeros of sparse tensors).
    pub fn stored_elements(&self) -> usize {
        self.a.iter().map(ArrayD::len).sum::<usize>()
            + self.b.iter().map(Transition::stored_elements).sum::<usize>()
            + self.c.iter().map(Array1::len).sum::<usize>()
            + self.d.iter().map(Array1::len).sum::<usize>()
            + self.e.as_ref().map_or(0, Array1::len)
    }

    /// SHA-256 of the model's canonical content (dimensions, then every non-zero entry with its
    /// position): equal for equal models whatever their storage, so it keys a compiled-model
    /// cache. Hex-encoded.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"freeagentics-model-v1");
        let put = |h: &mut Sha256, x: u64| h.update(x.to_le_bytes());
        put(&mut h, self.b.len() as u64);
        for b in &self.b {
            put(&mut h, b.num_states() as u64);
            put(&mut h, b.num_controls() as u64);
        }
        put(&mut h, self.a.len() as u64);
        for a in &self.a {
            put(&mut h, a.shape()[0] as u64);
        }
        let dense = |h: &mut Sha256, tag: u8, data: &mut dyn Iterator<Item = f64>| {
            h.update([tag]);
            for (i, v) in data.enumerate() {
                if v != 0.0 {
                    h.update((i as u64).to_le_bytes());
                    h.update(v.to_bits().to_le_bytes());
                }
            }
            h.update([0xff]);
        };
        for a in &self.a {
            dense(&mut h, b'A', &mut a.iter().copied());
        }
        for b in &self.b {
            h.update([b'B']);
            let (n, nc) = (b.num_states(), b.num_controls());
            for (to, from, c, v) in b.nonzeros() {
                h.update((((to * n + from) * nc + c) as u64).to_le_bytes());
                h.update(v.to_bits().to_le_bytes());
            }
            h.update([0xff]);
        }
        for c in &self.c {
            dense(&mut h, b'C', &mut c.iter().copied());
        }
        for d in &self.d {
            dense(&mut h, b'D', &mut d.iter().copied());
        }
        match &self.e {
            Some(e) => {
                put(&mut h, e.len() as u64);
                dense(&mut h, b'E', &mut e.iter().copied());
            }
            None => h.update(b"no-E"),
        }
        for &f in &self.control_factors {
            put(&mut h, f as u64);
        }
        hex(&h.finalize())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Equal content, whatever the storage (dense or sparse B).
impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.a == other.a
            && self.c == other.c
            && self.d == other.d
            && self.e == other.e
            && self.control_factors == other.control_factors
            && self.b.len() == other.b.len()
            && self.b.iter().zip(&other.b).all(|(x, y)| {
                x.num_states() == y.num_states() && x.num_controls() == y.num_controls() && x.nonzeros() == y.nonzeros()
            })
    }
}
