//! Parity with pymdp 0.0.7.1: fixtures written by benches/pymdp/make_fixtures.py (pymdp itself),
//! compared within 1e-6. Where pymdp's first-step action marginal ties, any tied action is
//! accepted and the agent then follows pymdp's pick so the remaining steps stay comparable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{Fixture, load_fixtures, model_of};
use freeagentics_inference::{AgentState, CompiledModel, Limits, action_marginals, step};

const TOL: f64 = 1e-6;

/// Asserts agreement and returns the difference.
fn close(what: &str, ours: f64, theirs: f64) -> f64 {
    let d = (ours - theirs).abs();
    assert!(d <= TOL, "{what}: ours {ours}, pymdp {theirs} (difference {d:e})");
    d
}

fn close_all(what: &str, ours: &[f64], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths differ");
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        worst = worst.max(close(&format!("{what}[{i}]"), *a, *b));
    }
    worst
}

/// Checks one fixture; returns the tied actions picked differently and the largest difference.
fn check(fx: &Fixture) -> (usize, f64) {
    let limits = Limits::default();
    let (model, settings) = model_of(fx);
    let compiled = CompiledModel::new(&model, &settings, &limits).unwrap_or_else(|e| panic!("{}: {e}", fx.name));
    if let Some(policies) = &fx.policies {
        assert_eq!(&compiled.policies(), policies, "{}: policy order", fx.name);
    }
    if let Some(n) = fx.num_policies {
        assert_eq!(compiled.num_policies(), n, "{}: policy count", fx.name);
    }
    let mut state = AgentState::new(0);
    let mut ties = 0;
    let mut worst = 0.0f64;
    for (t, (obs, want)) in fx.observations.iter().zip(&fx.steps).enumerate() {
        let at = |what: &str| format!("{} step {t} {what}", fx.name);
        let out = step(&compiled, &mut state, obs, None).unwrap_or_else(|e| panic!("{}: {e}", at("step")));
        assert_eq!(out.qs.len(), want.qs.len(), "{}", at("factors"));
        for (f, (ours, theirs)) in out.qs.iter().zip(&want.qs).enumerate() {
            worst = worst.max(close_all(&at(&format!("qs[{f}]")), ours, theirs));
        }
        worst = worst.max(close_all(&at("G"), &out.g, &want.g));
        worst = worst.max(close_all(&at("q_pi"), &out.q_pi, &want.q_pi));
        worst = worst.max(close(&at("free_energy"), out.free_energy, want.free_energy));
        worst = worst.max(close(&at("entropy"), out.entropy, want.entropy));
        let marginals = action_marginals(&compiled, &want.q_pi);
        for (f, marg) in marginals.iter().enumerate() {
            let best = marg.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ours = out.action[f];
            assert!(
                marg[ours] >= best - TOL,
                "{}: action {ours} has marginal {}, the best is {best}",
                at(&format!("action[{f}]")),
                marg[ours]
            );
            if ours != want.action[f] {
                ties += 1;
            }
        }
        state.last_action = Some(want.action.clone());
    }
    (ties, worst)
}

fn check_file(file: &str, min: usize) {
    let fixtures = load_fixtures(file);
    assert!(fixtures.len() >= min, "{file}: {} fixtures, expected at least {min}", fixtures.len());
    let (mut ties, mut worst) = (0, 0.0f64);
    let mut steps = 0;
    for fx in &fixtures {
        assert_eq!(fx.observations.len(), fx.steps.len(), "{}", fx.name);
        assert!(!fx.steps.is_empty(), "{}: no steps", fx.name);
        let (t, w) = check(fx);
        ties += t;
        worst = worst.max(w);
        steps += fx.steps.len();
    }
    eprintln!(
        "{file}: {} fixtures, {steps} steps agree with pymdp (largest difference {worst:e}); {ties} tied actions picked differently",
        fixtures.len()
    );
}

#[test]
fn two_factor_model_with_an_uncontrolled_factor() {
    check_file("two_factor.json", 3);
}

#[test]
fn random_models() {
    check_file("random.json", 100);
}

#[test]
fn grid_explorer_both_variants() {
    check_file("grid.json", 8);
}
