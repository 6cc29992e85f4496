//! Reading the pymdp fixtures (shared by the parity tests and the benches' sanity checks).
#![allow(dead_code)]

use std::path::PathBuf;

use freeagentics_inference::{Limits, Model, Settings, templates};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
pub struct FixtureFile {
    pub fixtures: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub name: String,
    #[serde(default)]
    pub model: Option<Value>,
    #[serde(default)]
    pub template: Option<TemplateRef>,
    pub settings: Value,
    #[serde(default)]
    pub policies: Option<Vec<Vec<Vec<usize>>>>,
    #[serde(default)]
    pub num_policies: Option<usize>,
    pub observations: Vec<Vec<usize>>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
pub struct TemplateRef {
    pub name: String,
    pub params: Value,
    pub fingerprint: Value,
}

#[derive(Debug, Deserialize)]
pub struct Step {
    pub qs: Vec<Vec<f64>>,
    pub q_pi: Vec<f64>,
    #[serde(rename = "G")]
    pub g: Vec<f64>,
    pub action: Vec<usize>,
    pub free_energy: f64,
    pub entropy: f64,
}

pub fn load_fixtures(file: &str) -> Vec<Fixture> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed: FixtureFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parsed.fixtures
}

/// The fixture's model (checking a template's tensors against pymdp's side first) and settings.
pub fn model_of(fx: &Fixture) -> (Model, Settings) {
    let limits = Limits::default();
    let settings: Settings =
        serde_json::from_value(fx.settings.clone()).unwrap_or_else(|e| panic!("{}: settings: {e}", fx.name));
    if let Some(model) = &fx.model {
        let model = Model::from_json(model, &limits).unwrap_or_else(|e| panic!("{}: {e}", fx.name));
        return (model, settings);
    }
    let t = fx.template.as_ref().unwrap_or_else(|| panic!("{}: neither model nor template", fx.name));
    let built = templates::build(&t.name, &t.params, &limits).unwrap_or_else(|e| panic!("{}: {e:?}", fx.name));
    check_fingerprint(&fx.name, &built.model, &t.fingerprint);
    assert_eq!(built.settings, settings, "{}: the template's settings", fx.name);
    (built.model, settings)
}

/// Both sides' tensors: same shapes, non-zeros at the same positions, equal sums.
fn check_fingerprint(name: &str, model: &Model, want: &Value) {
    let json = model.to_json();
    for key in ["A", "B", "C", "D"] {
        let ours = json[key].as_array().unwrap_or_else(|| panic!("{name}: {key}"));
        let theirs = want[key].as_array().unwrap_or_else(|| panic!("{name}: fingerprint {key}"));
        assert_eq!(ours.len(), theirs.len(), "{name}: {key} count");
        for (i, (t, w)) in ours.iter().zip(theirs).enumerate() {
            let (shape, flat) = flatten(t);
            let what = format!("{name}: {key}[{i}]");
            assert_eq!(serde_json::to_value(&shape).unwrap(), w["shape"], "{what} shape");
            let mut h = Sha256::new();
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for (k, &v) in flat.iter().enumerate() {
                if v != 0.0 {
                    h.update((k as u64).to_le_bytes());
                }
                sum += v;
                weighted += v * (((k as u64 * 2654435761) % 1000003) as f64 / 1000003.0);
            }
            let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digest, w["nonzeros_sha256"].as_str().unwrap_or_default(), "{what} non-zero positions");
            for (label, ours, theirs) in [("sum", sum, &w["sum"]), ("weighted_sum", weighted, &w["weighted_sum"])] {
                let theirs = theirs.as_f64().unwrap_or(f64::NAN);
                assert!(
                    (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                    "{what} {label}: ours {ours}, pymdp {theirs}"
                );
            }
        }
    }
}

fn flatten(v: &Value) -> (Vec<usize>, Vec<f64>) {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Value::Array(items) = cur {
        shape.push(items.len());
        match items.first() {
            Some(x) => cur = x,
            None => break,
        }
    }
    let mut flat = Vec::new();
    fn rec(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|x| rec(x, out)),
            other => out.push(other.as_f64().unwrap_or(f64::NAN)),
        }
    }
    rec(v, &mut flat);
    (shape, flat)
}
