//! Times agent steps for benches/pymdp/compare.py (the other side runs pymdp on the same model).
//!
//! Reads one job per line of standard input and prints one JSON result per line:
//! `{"name", "model": {...} | "template": {"name", "params"}, "settings": {...},
//!   "observations": [[...], ...], "min_seconds": 1.0}` →
//! `{"name", "steps", "mean_step_seconds", "best_step_seconds", "num_policies", "heap_bytes"}`.
//! Each round runs a fresh agent over every observation; rounds repeat until `min_seconds`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead;
use std::time::{Duration, Instant};

use freeagentics_inference::{AgentState, CompiledModel, Limits, Model, Settings, Workspace, step_with, templates};
use serde_json::{Value, json};

fn main() {
    let limits = Limits::default();
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(l) if !l.trim().is_empty() => l,
            Ok(_) => continue,
            Err(e) => fail(&format!("reading stdin: {e}")),
        };
        let job: Value = serde_json::from_str(&line).unwrap_or_else(|e| fail(&format!("bad job: {e}")));
        let (model, settings) = if let Some(t) = job.get("template") {
            let name = t["name"].as_str().unwrap_or_default();
            let built = templates::build(name, &t["params"], &limits).unwrap_or_else(|e| fail(&format!("{e:?}")));
            (built.model, built.settings)
        } else {
            let model = Model::from_json(&job["model"], &limits).unwrap_or_else(|e| fail(&e.to_string()));
            let settings: Settings =
                serde_json::from_value(job["settings"].clone()).unwrap_or_else(|e| fail(&e.to_string()));
            (model, settings)
        };
        let compiled = CompiledModel::new(&model, &settings, &limits).unwrap_or_else(|e| fail(&e.to_string()));
        let observations: Vec<Vec<usize>> =
            serde_json::from_value(job["observations"].clone()).unwrap_or_else(|e| fail(&e.to_string()));
        let budget = Duration::from_secs_f64(job["min_seconds"].as_f64().unwrap_or(1.0));
        let mut ws = Workspace::new();
        let (mut steps, mut best, start) = (0u64, f64::MAX, Instant::now());
        while start.elapsed() < budget || steps == 0 {
            let mut state = AgentState::new(0);
            for obs in &observations {
                let t = Instant::now();
                step_with(&compiled, &mut state, obs, None, &mut ws).unwrap_or_else(|e| fail(&e.to_string()));
                best = best.min(t.elapsed().as_secs_f64());
                steps += 1;
            }
        }
        let mean = start.elapsed().as_secs_f64() / steps as f64;
        let out = json!({"name": job["name"], "steps": steps, "mean_step_seconds": mean, "best_step_seconds": best,
            "num_policies": compiled.num_policies(), "heap_bytes": compiled.heap_bytes()});
        println!("{out}");
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("step_timing: {msg}");
    std::process::exit(2)
}
