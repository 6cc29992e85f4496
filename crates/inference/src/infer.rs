//! State inference: pymdp's `run_vanilla_fpi`. One factor: the closed form
//! `softmax(lnL + ln prior)`. Several: fixed-point iteration from a uniform start, updating every
//! factor at once from the previous iterate, while `iteration < 10 and |ΔF| >= 0.001` — the loop
//! is reproduced as pymdp runs it (it often stops at the cap and can oscillate), not improved.

use crate::compiled::{CompiledModel, EPS, softmax_in_place};
use crate::workspace::Workspace;

const NUM_ITER: usize = 10;
const DF_TOL: f64 = 0.001;

/// Posterior per factor and the variational free energy (complexity − accuracy, pymdp's
/// `calc_free_energy` with its 1e-16 epsilon).
pub(crate) fn infer_states(
    m: &CompiledModel,
    obs: &[usize],
    prior: &[Vec<f64>],
    ws: &mut Workspace,
) -> (Vec<Vec<f64>>, f64) {
    let s_count = m.joint_states;
    // ln(∏_m A_m[o_m, s] + 1e-16): the product is taken before the log.
    for s in 0..s_count {
        let mut p = 1.0;
        for (am, &o) in m.a.iter().zip(obs) {
            p *= am[o * s_count + s];
        }
        ws.ln_l[s] = (p + EPS).ln();
    }
    let ln_prior: Vec<Vec<f64>> = prior.iter().map(|p| p.iter().map(|&x| (x + EPS).ln()).collect()).collect();

    if m.num_states.len() == 1 {
        let mut q: Vec<f64> = ws.ln_l.iter().zip(&ln_prior[0]).map(|(l, p)| l + p).collect();
        softmax_in_place(&mut q);
        let qs = vec![q];
        let f = complexity(&qs, &ln_prior) - accuracy(&qs, ws);
        return (qs, f);
    }

    let mut qs: Vec<Vec<f64>> = m.num_states.iter().map(|&n| vec![1.0 / n as f64; n]).collect();
    let mut prev_vfe = complexity(&qs, &ln_prior);
    let mut vfe = prev_vfe;
    let mut d_f = 1.0;
    let mut iter = 0;
    let mut marg: Vec<Vec<f64>> = m.num_states.iter().map(|&n| vec![0.0; n]).collect();
    while iter < NUM_ITER && d_f >= DF_TOL {
        outer_product(&qs, &mut ws.joint);
        for v in &mut marg {
            v.fill(0.0);
        }
        for_each_joint(&m.num_states, |s, idx| {
            let ll = ws.ln_l[s] * ws.joint[s];
            for (f, &i) in idx.iter().enumerate() {
                marg[f][i] += ll;
            }
        });
        // Every factor from the previous iterate: Σ over the others of lnL·∏q, obtained as
        // pymdp does by dividing the full contraction by the factor's own belief.
        for f in 0..qs.len() {
            let q = &mut qs[f];
            for i in 0..q.len() {
                q[i] = marg[f][i] / q[i] + ln_prior[f][i];
            }
            softmax_in_place(q);
        }
        vfe = complexity(&qs, &ln_prior) - accuracy(&qs, ws);
        d_f = (prev_vfe - vfe).abs();
        prev_vfe = vfe;
        iter += 1;
    }
    (qs, vfe)
}

/// `Σ_f q_f·ln(q_f + 1e-16) − q_f·ln prior_f`.
fn complexity(qs: &[Vec<f64>], ln_prior: &[Vec<f64>]) -> f64 {
    qs.iter()
        .zip(ln_prior)
        .map(|(q, lp)| {
            let neg_h: f64 = q.iter().map(|&x| x * (x + EPS).ln()).sum();
            let cross: f64 = q.iter().zip(lp).map(|(a, b)| a * b).sum();
            neg_h - cross
        })
        .sum()
}

/// `Σ_s lnL(s)·∏_f q_f(s_f)`.
fn accuracy(qs: &[Vec<f64>], ws: &mut Workspace) -> f64 {
    if qs.len() == 1 {
        return ws.ln_l.iter().zip(&qs[0]).map(|(l, q)| l * q).sum();
    }
    outer_product(qs, &mut ws.joint);
    ws.ln_l.iter().zip(&ws.joint).map(|(l, q)| l * q).sum()
}

/// Belief entropy `−Σ_f q_f·ln(q_f + 1e-16)`.
pub(crate) fn entropy(qs: &[Vec<f64>]) -> f64 {
    -qs.iter().flatten().map(|&x| x * (x + EPS).ln()).sum::<f64>()
}

/// The joint distribution `((q_0 ⊗ q_1) ⊗ q_2) …` in C order, multiplied in pymdp's order.
pub(crate) fn outer_product<V: AsRef<[f64]>>(qs: &[V], out: &mut [f64]) {
    let first = qs[0].as_ref();
    out[..first.len()].copy_from_slice(first);
    let mut len = first.len();
    for q in &qs[1..] {
        let q = q.as_ref();
        let n = q.len();
        for i in (0..len).rev() {
            let x = out[i];
            for k in (0..n).rev() {
                out[i * n + k] = x * q[k];
            }
        }
        len *= n;
    }
}

/// Calls `f(s, multi_index)` for every joint state in C order.
fn for_each_joint(num_states: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let total: usize = num_states.iter().product();
    let mut idx = [0usize; crate::compiled::HARD_MAX_FACTORS];
    let nf = num_states.len();
    for s in 0..total {
        f(s, &idx[..nf]);
        for pos in (0..nf).rev() {
            idx[pos] += 1;
            if idx[pos] < num_states[pos] {
                break;
            }
            idx[pos] = 0;
        }
    }
}
