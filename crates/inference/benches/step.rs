//! Per-step time of the engine: `cargo bench -p freeagentics-inference --bench step`.
//! A step is what an agent does per observation: state inference, every policy's expected free
//! energy, the policy posterior and the action. Results: docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use freeagentics_inference::{
    AgentState, CompiledModel, Limits, Model, ModelParts, Settings, Transition, Workspace, step_with, templates,
};
use ndarray::{Array1, Array3, ArrayD, IxDyn};
use serde_json::json;

fn bench_model(c: &mut Criterion, name: &str, compiled: &CompiledModel, observations: &[Vec<usize>]) {
    let mut ws = Workspace::new();
    c.bench_function(name, |b| {
        // Cycle a warm agent through the observations so beliefs are those of a running agent.
        let mut state = AgentState::new(0);
        let mut i = 0;
        b.iter(|| {
            if i % observations.len() == 0 {
                state = AgentState::new(0);
            }
            let out = step_with(compiled, &mut state, &observations[i % observations.len()], None, &mut ws);
            i += 1;
            black_box(out)
        })
    });
}

fn grid(c: &mut Criterion) {
    let limits = Limits::default();
    for horizon in [1, 3, 5] {
        let built = templates::build("basic-explorer", &json!({"horizon": horizon}), &limits)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let compiled = CompiledModel::new(&built.model, &built.settings, &limits).unwrap_or_else(|e| panic!("{e}"));
        let obs = vec![vec![4], vec![4], vec![0], vec![0], vec![0], vec![4]];
        bench_model(
            c,
            &format!("grid 20x20 localizing, horizon {horizon} ({} policies)", compiled.num_policies()),
            &compiled,
            &obs,
        );
    }
}

/// The two-factor model of the fixtures (location × uncontrolled context, two modalities).
fn two_factor(c: &mut Criterion) {
    let limits = Limits::default();
    let mut a0 = Array3::<f64>::from_elem((4, 4, 2), 0.05);
    let mut a1 = Array3::<f64>::zeros((5, 4, 2));
    for ctx in 0..2 {
        for loc in 0..4 {
            a0[[loc, loc, ctx]] = 0.85;
        }
        a1[[0, 0, ctx]] = 1.0;
        let (good, bad) = if ctx == 0 { (1, 2) } else { (2, 1) };
        a1[[good, 1, ctx]] = 0.9;
        a1[[bad, 1, ctx]] = 0.1;
        a1[[bad, 2, ctx]] = 0.9;
        a1[[good, 2, ctx]] = 0.1;
        a1[[3 + ctx, 3, ctx]] = 0.95;
        a1[[4 - ctx, 3, ctx]] = 0.05;
    }
    let mut b0 = Array3::<f64>::from_elem((4, 4, 4), 0.1 / 3.0);
    for k in 0..4 {
        for from in 0..4 {
            b0[[k, from, k]] = 0.9;
        }
    }
    let b1 = Array3::from_shape_vec((2, 2, 1), vec![0.95, 0.05, 0.05, 0.95]).unwrap_or_else(|e| panic!("{e}"));
    let parts = ModelParts {
        a: vec![a0.into_dyn(), a1.into_dyn()],
        b: vec![Transition::Dense(b0), Transition::Dense(b1)],
        c: Some(vec![Array1::zeros(4), Array1::from(vec![0.0, 3.0, -3.0, 0.0, 0.0])]),
        d: Some(vec![Array1::from(vec![1.0, 0.0, 0.0, 0.0]), Array1::from(vec![0.5, 0.5])]),
        ..ModelParts::default()
    };
    let model = Model::new(parts, &limits).unwrap_or_else(|e| panic!("{e}"));
    for horizon in [1, 3] {
        let compiled = CompiledModel::new(&model, &Settings { policy_len: horizon, ..Settings::default() }, &limits)
            .unwrap_or_else(|e| panic!("{e}"));
        let obs = vec![vec![0, 0], vec![3, 3], vec![1, 1], vec![1, 1], vec![2, 2]];
        bench_model(
            c,
            &format!("two-factor, horizon {horizon} ({} policies)", compiled.num_policies()),
            &compiled,
            &obs,
        );
    }
}

/// Three factors (10 × 8 × 6 = 480 joint states, controls 4 × 3 × 1), two dense modalities
/// (6 and 5 outcomes), horizon 2: 144 policies.
fn large_random(c: &mut Criterion) {
    let limits = Limits::default();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 + 1e-3
    };
    let ns = [10usize, 8, 6];
    let mut columns = |shape: &[usize]| {
        let rows = shape[0];
        let cols: usize = shape[1..].iter().product();
        let mut data = vec![0.0; rows * cols];
        for col in 0..cols {
            let v: Vec<f64> = (0..rows).map(|_| next()).collect();
            let s: f64 = v.iter().sum();
            for r in 0..rows {
                data[r * cols + col] = v[r] / s;
            }
        }
        ArrayD::from_shape_vec(IxDyn(shape), data).unwrap_or_else(|e| panic!("{e}"))
    };
    let a = vec![columns(&[6, 10, 8, 6]), columns(&[5, 10, 8, 6])];
    let b = [(10, 4), (8, 3), (6, 1)]
        .iter()
        .map(|&(n, k)| Transition::Dense(columns(&[n, n, k]).into_dimensionality().unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    let parts = ModelParts {
        a,
        b,
        c: Some(vec![Array1::from(vec![1.0, 0.0, -1.0, 2.0, 0.0, 0.5]), Array1::from(vec![0.0, 1.0, 0.0, -2.0, 1.0])]),
        ..ModelParts::default()
    };
    let model = Model::new(parts, &limits).unwrap_or_else(|e| panic!("{e}"));
    let compiled = CompiledModel::new(&model, &Settings { policy_len: 2, ..Settings::default() }, &limits)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ns.iter().product::<usize>(), 480);
    let obs = vec![vec![0, 1], vec![3, 2], vec![5, 4], vec![1, 0], vec![2, 3]];
    bench_model(
        c,
        &format!("large random 480 joint states, horizon 2 ({} policies)", compiled.num_policies()),
        &compiled,
        &obs,
    );
}

criterion_group!(benches, grid, two_factor, large_random);
criterion_main!(benches);
