//! The rules a model must satisfy, checked once when it is built.

use ndarray::{Array1, ArrayD};

use crate::error::{ErrorSink, ModelError, ModelErrors, Rule};
use crate::limits::Limits;
use crate::model::{Model, ModelParts, Transition};

/// Tolerance of every normalisation check (pymdp uses `np.allclose`: rtol 1e-5, atol 1e-8).
pub const NORMALISATION_TOLERANCE: f64 = 1e-6;

pub(crate) fn validate(parts: ModelParts, limits: &Limits) -> Result<Model, ModelErrors> {
    let mut sink = ErrorSink::default();
    let ModelParts { a, b, c, d, e, control_factors } = parts;
    let (nf, nm) = (b.len(), a.len());
    if nf == 0 {
        sink.push(ModelError::new("B", vec![], Rule::Required, "at least one hidden-state factor is required"));
    }
    if nf > limits.max_factors {
        sink.push(ModelError::new("B", vec![], Rule::Limit, format!("{nf} factors, at most {}", limits.max_factors)));
    }
    if nm == 0 {
        sink.push(ModelError::new("A", vec![], Rule::Required, "at least one observation modality is required"));
    }
    if nm > limits.max_modalities {
        sink.push(ModelError::new(
            "A",
            vec![],
            Rule::Limit,
            format!("{nm} modalities, at most {}", limits.max_modalities),
        ));
    }
    if !sink.is_empty() {
        return Err(ModelErrors(sink.errors));
    }

    // Shapes first: values are only checked on tensors whose shape is right.
    let num_states: Vec<usize> = b.iter().map(Transition::num_states).collect();
    let mut shapes_ok = true;
    for (f, bf) in b.iter().enumerate() {
        let (n, from, nc) = (bf.num_states(), bf.source_states(), bf.num_controls());
        let name = format!("B[{f}]");
        if n != from {
            shapes_ok = false;
            sink.push(ModelError::new(
                &name,
                vec![],
                Rule::Shape,
                format!("shape [{n}, {from}, {nc}]: the first two dimensions must be equal"),
            ));
        }
        if n > limits.max_states_per_factor {
            shapes_ok = false;
            sink.push(ModelError::new(
                &name,
                vec![],
                Rule::Limit,
                format!("{n} states, at most {}", limits.max_states_per_factor),
            ));
        }
        if n == 0 || nc == 0 {
            shapes_ok = false;
            sink.push(ModelError::new(&name, vec![], Rule::Shape, "every dimension needs at least one entry"));
        }
    }
    for (m, am) in a.iter().enumerate() {
        let name = format!("A[{m}]");
        let shape = am.shape();
        if shape.len() != nf + 1 || shape[1..] != num_states[..] {
            shapes_ok = false;
            sink.push(ModelError::new(
                &name,
                vec![],
                Rule::Shape,
                format!(
                    "shape {shape:?}, expected [num_obs, {}] (the states of every factor, from B)",
                    join(&num_states)
                ),
            ));
        } else if shape[0] == 0 {
            shapes_ok = false;
            sink.push(ModelError::new(&name, vec![], Rule::Shape, "at least one outcome is required"));
        } else if shape[0] > limits.max_observations_per_modality {
            shapes_ok = false;
            sink.push(ModelError::new(
                &name,
                vec![],
                Rule::Limit,
                format!("{} outcomes, at most {}", shape[0], limits.max_observations_per_modality),
            ));
        }
    }
    let num_obs: Vec<usize> = a.iter().map(|x| x.shape().first().copied().unwrap_or(0)).collect();
    let stored: usize = a.iter().map(ArrayD::len).sum::<usize>()
        + b.iter().map(Transition::stored_elements).sum::<usize>()
        + num_obs.iter().sum::<usize>()
        + num_states.iter().sum::<usize>()
        + e.as_ref().map_or(0, Array1::len);
    if stored > limits.max_tensor_elements {
        shapes_ok = false;
        sink.push(ModelError::new(
            "model",
            vec![],
            Rule::Limit,
            format!("{stored} tensor elements, at most {}", limits.max_tensor_elements),
        ));
    }
    if !shapes_ok {
        return Err(ModelErrors(sink.errors));
    }

    for (m, am) in a.iter().enumerate() {
        check_columns_dense(am, &format!("A[{m}]"), &mut sink);
    }
    for (f, bf) in b.iter().enumerate() {
        check_transition(bf, &format!("B[{f}]"), &mut sink);
    }

    let c = match c {
        None => num_obs.iter().map(|&n| Array1::zeros(n)).collect(),
        Some(c) => {
            check_vectors(&c, "C", &num_obs, "outcomes of A", &mut sink);
            for (m, cm) in c.iter().enumerate() {
                for (i, &x) in cm.iter().enumerate() {
                    if !x.is_finite() {
                        sink.push(ModelError::new(
                            format!("C[{m}]"),
                            vec![i],
                            Rule::Finite,
                            format!("{x} is not finite"),
                        ));
                    }
                }
            }
            c
        }
    };
    let d = match d {
        None => num_states.iter().map(|&n| Array1::from_elem(n, 1.0 / n as f64)).collect(),
        Some(d) => {
            if check_vectors(&d, "D", &num_states, "states of B", &mut sink) {
                for (f, df) in d.iter().enumerate() {
                    check_distribution(df, &format!("D[{f}]"), &mut sink);
                }
            }
            d
        }
    };
    if let Some(e) = &e {
        check_distribution(e, "E", &mut sink);
    }

    let derived: Vec<usize> = b.iter().enumerate().filter(|(_, bf)| bf.num_controls() > 1).map(|(f, _)| f).collect();
    if let Some(given) = control_factors {
        let mut sorted = given.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some((i, &f)) = given.iter().enumerate().find(|(_, f)| **f >= nf) {
            sink.push(ModelError::new(
                "control_factors",
                vec![i],
                Rule::ControlFactors,
                format!("factor {f} does not exist (the model has {nf})"),
            ));
        } else if sorted.len() != given.len() {
            sink.push(ModelError::new("control_factors", vec![], Rule::ControlFactors, "a factor is listed twice"));
        } else if sorted != derived {
            sink.push(ModelError::new(
                "control_factors",
                vec![],
                Rule::ControlFactors,
                format!(
                    "lists [{}] but the factors whose B has more than one control are [{}]; an uncontrolled factor has a B with one control",
                    join(&sorted),
                    join(&derived)
                ),
            ));
        }
    }
    sink.into_result()?;
    Ok(Model { a, b, c, d, e, control_factors: derived })
}

fn join(xs: &[usize]) -> String {
    xs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Checks the count and lengths of a list of vectors; true when they fit.
fn check_vectors(v: &[Array1<f64>], name: &str, want: &[usize], what: &str, sink: &mut ErrorSink) -> bool {
    if v.len() != want.len() {
        sink.push(ModelError::new(
            name,
            vec![],
            Rule::Shape,
            format!("{} vectors, expected {} (one per entry of {what})", v.len(), want.len()),
        ));
        return false;
    }
    let mut ok = true;
    for (i, (x, &n)) in v.iter().zip(want).enumerate() {
        if x.len() != n {
            ok = false;
            sink.push(ModelError::new(
                format!("{name}[{i}]"),
                vec![],
                Rule::Shape,
                format!("length {}, expected {n} ({what})", x.len()),
            ));
        }
    }
    ok
}

fn check_entry(x: f64, name: &str, index: impl FnOnce() -> Vec<usize>, sink: &mut ErrorSink) -> bool {
    if !x.is_finite() {
        sink.push(ModelError::new(name, index(), Rule::Finite, format!("{x} is not finite")));
        false
    } else if x < 0.0 {
        sink.push(ModelError::new(name, index(), Rule::NonNegative, format!("{x} is negative")));
        false
    } else {
        true
    }
}

fn check_distribution(v: &Array1<f64>, name: &str, sink: &mut ErrorSink) {
    let mut ok = true;
    for (i, &x) in v.iter().enumerate() {
        ok &= check_entry(x, name, || vec![i], sink);
    }
    let s: f64 = v.sum();
    if ok && (s - 1.0).abs() > NORMALISATION_TOLERANCE {
        sink.push(ModelError::new(name, vec![], Rule::Normalised, format!("sums to {s}")));
    }
}

/// Columns of a dense `A` (sums over the first axis).
fn check_columns_dense(t: &ArrayD<f64>, name: &str, sink: &mut ErrorSink) {
    let shape = t.shape().to_vec();
    let rows = shape[0];
    let cols = t.len() / rows.max(1);
    let std = t.as_standard_layout();
    let Some(data) = std.as_slice() else { return };
    let mut ok = true;
    for (k, &x) in data.iter().enumerate() {
        if sink.is_full() {
            return;
        }
        ok &= check_entry(x, name, || unravel(k, &shape), sink);
    }
    if !ok {
        return;
    }
    let mut sums = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x;
        }
    }
    for (j, &s) in sums.iter().enumerate() {
        if (s - 1.0).abs() > NORMALISATION_TOLERANCE {
            if sink.is_full() {
                return;
            }
            let index = unravel(j, &shape);
            let column: Vec<String> = index[1..].iter().map(ToString::to_string).collect();
            sink.push(ModelError::new(
                name,
                index,
                Rule::ColumnsNormalised,
                format!("column {name}[:, {}] sums to {s}", column.join(", ")),
            ));
        }
    }
}

fn check_transition(t: &Transition, name: &str, sink: &mut ErrorSink) {
    let (n, nc) = (t.num_states(), t.num_controls());
    let mut ok = true;
    let mut sums = vec![0.0; n * nc];
    t.for_each(|to, from, c, v| {
        if !sink.is_full() {
            ok &= check_entry(v, name, || vec![to, from, c], sink);
        }
        sums[from * nc + c] += v;
    });
    if !ok {
        return;
    }
    for (k, &s) in sums.iter().enumerate() {
        if (s - 1.0).abs() > NORMALISATION_TOLERANCE {
            if sink.is_full() {
                return;
            }
            let (from, c) = (k / nc, k % nc);
            sink.push(ModelError::new(
                name,
                vec![0, from, c],
                Rule::ColumnsNormalised,
                format!("column {name}[:, {from}, {c}] sums to {s}"),
            ));
        }
    }
}

/// The multi-index of flat position `k` in a C-order tensor of `shape`.
pub(crate) fn unravel(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = k % d;
            k /= d;
        }
    }
    idx
}
