//! Property tests: posteriors are distributions, a uniform A leaves the prior unchanged, both GMN
//! forms of one spec give one model, and neither the GMN parser nor the model validator panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use freeagentics_inference::gmn;
use freeagentics_inference::{
    AgentState, CompiledModel, Limits, Model, RunRequest, Settings, parse_observations, step,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A small deterministic generator so a model is a function of a few drawn numbers.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Columns (over the first axis) of a tensor of `shape`, normalised, some entries zero.
    fn columns(&mut self, shape: &[usize], sparse: bool) -> Value {
        let rows = shape[0];
        let cols: usize = shape[1..].iter().product();
        let mut data = vec![0.0; rows * cols];
        for c in 0..cols {
            let mut col: Vec<f64> =
                (0..rows).map(|_| if sparse && self.next() < 0.4 { 0.0 } else { self.next() + 1e-3 }).collect();
            if col.iter().all(|&x| x == 0.0) {
                col[0] = 1.0;
            }
            let s: f64 = col.iter().sum();
            for r in 0..rows {
                data[r * cols + c] = col[r] / s;
            }
        }
        nest(&data, shape)
    }
}

fn nest(data: &[f64], shape: &[usize]) -> Value {
    if shape.len() == 1 {
        return json!(data);
    }
    let stride: usize = shape[1..].iter().product();
    Value::Array((0..shape[0]).map(|i| nest(&data[i * stride..(i + 1) * stride], &shape[1..])).collect())
}

#[derive(Debug, Clone)]
struct Dims {
    ns: Vec<usize>,
    no: Vec<usize>,
    nc: Vec<usize>,
    seed: u64,
    sparse: bool,
}

fn dims() -> impl Strategy<Value = Dims> {
    (
        prop::collection::vec((1usize..6, 1usize..4), 1..4),
        prop::collection::vec(1usize..6, 1..4),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(f, no, seed, sparse)| Dims {
            ns: f.iter().map(|x| x.0).collect(),
            nc: f.iter().map(|x| x.1).collect(),
            no,
            seed: seed | 1,
            sparse,
        })
}

fn model_json(d: &Dims, uniform_a: bool) -> Value {
    let mut g = Gen(d.seed);
    let a: Vec<Value> =
        d.no.iter()
            .map(|&o| {
                let shape: Vec<usize> = std::iter::once(o).chain(d.ns.iter().copied()).collect();
                if uniform_a {
                    nest(&vec![1.0 / o as f64; shape.iter().product()], &shape)
                } else {
                    g.columns(&shape, d.sparse)
                }
            })
            .collect();
    let b: Vec<Value> = d.ns.iter().zip(&d.nc).map(|(&n, &c)| g.columns(&[n, n, c], d.sparse)).collect();
    let c: Vec<Value> = d.no.iter().map(|&o| json!((0..o).map(|_| g.next() * 8.0 - 4.0).collect::<Vec<_>>())).collect();
    let dd: Vec<Value> = d.ns.iter().map(|&n| g.columns(&[n], false)).collect();
    json!({"A": a, "B": b, "C": c, "D": dd})
}

fn is_distribution(v: &[f64]) -> bool {
    v.iter().all(|&x| (0.0..=1.0 + 1e-12).contains(&x)) && (v.iter().sum::<f64>() - 1.0).abs() < 1e-9
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn posteriors_and_policy_posteriors_are_distributions(d in dims(), horizon in 1usize..3, obs_seed in any::<u64>()) {
        let model = Model::from_json(&model_json(&d, false), &Limits::default()).unwrap();
        let settings = Settings { policy_len: horizon, ..Settings::default() };
        let m = CompiledModel::new(&model, &settings, &Limits::default()).unwrap();
        let mut g = Gen(obs_seed | 1);
        let mut state = AgentState::new(0);
        for _ in 0..3 {
            let obs: Vec<usize> = d.no.iter().map(|&o| ((g.next() * o as f64) as usize).min(o - 1)).collect();
            let out = step(&m, &mut state, &obs, None).unwrap();
            for q in &out.qs {
                prop_assert!(is_distribution(q), "qs {q:?}");
            }
            prop_assert!(is_distribution(&out.q_pi));
            prop_assert!(out.free_energy.is_finite() && out.entropy >= -1e-12);
            for (f, &a) in out.action.iter().enumerate() {
                prop_assert!(a < d.nc[f]);
            }
        }
    }

    #[test]
    fn a_uniform_likelihood_leaves_the_prior_unchanged(d in dims()) {
        let model = Model::from_json(&model_json(&d, true), &Limits::default()).unwrap();
        let m = CompiledModel::new(&model, &Settings::default(), &Limits::default()).unwrap();
        let mut state = AgentState::new(0);
        let out = step(&m, &mut state, &vec![0; d.no.len()], None).unwrap();
        for (q, prior) in out.qs.iter().zip(model.d()) {
            for (x, p) in q.iter().zip(prior.iter()) {
                prop_assert!((x - p).abs() < 1e-9, "posterior {q:?} vs prior {prior:?}");
            }
        }
        // The next step's prior is B·qs under the chosen action: again unchanged by the observation.
        let action = out.action.clone();
        let next = step(&m, &mut state, &vec![0; d.no.len()], None).unwrap();
        for (f, q) in next.qs.iter().enumerate() {
            let b = model.b()[f].to_dense();
            for (i, x) in q.iter().enumerate() {
                let want: f64 = (0..d.ns[f]).map(|j| b[[i, j, action[f]]] * out.qs[f][j]).sum();
                prop_assert!((x - want).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn gmn_text_and_json_forms_give_identical_models(d in dims(), horizon in 1usize..3) {
        let model = model_json(&d, false);
        let mut nodes = vec![];
        let mut edges = vec![];
        for (f, (&n, &c)) in d.ns.iter().zip(&d.nc).enumerate() {
            nodes.push(json!({"id": format!("s{f}"), "type": "state", "properties": {"num_states": n}}));
            nodes.push(json!({"id": format!("t{f}"), "type": "transition", "properties": {"matrix": model["B"][f]}}));
            nodes.push(json!({"id": format!("b{f}"), "type": "belief", "properties": {"vector": model["D"][f]}}));
            edges.push(json!({"source": format!("t{f}"), "target": format!("s{f}"), "type": "updates"}));
            edges.push(json!({"source": format!("b{f}"), "target": format!("s{f}"), "type": "depends_on"}));
            if c > 1 || f == 0 {
                nodes.push(json!({"id": format!("a{f}"), "type": "action", "properties": {"num_actions": c}}));
                edges.push(json!({"source": format!("a{f}"), "target": format!("t{f}"), "type": "influences"}));
            }
        }
        for (m, &o) in d.no.iter().enumerate() {
            nodes.push(json!({"id": format!("o{m}"), "type": "observation", "properties": {"num_observations": o}}));
            nodes.push(json!({"id": format!("l{m}"), "type": "likelihood", "properties": {"matrix": model["A"][m]}}));
            nodes.push(json!({"id": format!("p{m}"), "type": "preference", "properties": {"vector": model["C"][m]}}));
            edges.push(json!({"source": format!("l{m}"), "target": format!("o{m}"), "type": "generates"}));
            edges.push(json!({"source": format!("p{m}"), "target": format!("o{m}"), "type": "depends_on"}));
        }
        nodes.push(json!({"id": "plan", "type": "policy", "properties": {"policy_len": horizon, "gamma": 8.5}}));
        let spec = json!({"nodes": nodes, "edges": edges, "metadata": {"name": "generated"}});
        let from_json = gmn::parse(&spec.to_string()).unwrap();
        let text = from_json.to_text();
        prop_assert_eq!(gmn::detect_form(&text), gmn::Form::Text);
        let from_text = gmn::parse(&text).unwrap();
        let (a, b) = (from_json.to_model(&Limits::default()).unwrap(), from_text.to_model(&Limits::default()).unwrap());
        prop_assert_eq!(&a.model, &b.model);
        prop_assert_eq!(&a.dimensions, &b.dimensions);
        prop_assert_eq!(&a.settings, &b.settings);
        prop_assert_eq!(a.settings.policy_len, horizon);
        // And the model is the one the tensors describe directly.
        let direct = Model::from_json(&model, &Limits::default()).unwrap();
        prop_assert_eq!(&a.model, &direct);
        prop_assert_eq!(a.model.content_hash(), direct.content_hash());
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        "[a-zA-Z_]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("A".to_string()),
                    Just("B".to_string()),
                    Just("C".to_string()),
                    Just("D".to_string()),
                    Just("E".to_string()),
                    Just("control_factors".to_string()),
                    "[a-z]{1,4}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings made of the text form's own tokens, so the parser gets deep into its grammar.
fn gmn_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[nodes]\n"),
        Just("[edges]\n"),
        Just("[metadata]\n"),
        Just("s: state {num_states: 3}\n"),
        Just("o: observation"),
        Just(" {num_observations: 2}\n"),
        Just("a: action {num_actions: 2}\n"),
        Just("a -> s: influences\n"),
        Just("l -> o: generates"),
        Just("l: likelihood {matrix: [[0.5, 0.5], [0.5, 0.5]]}"),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(","),
        Just(":"),
        Just("->"),
        Just("\""),
        Just("\\"),
        Just("#"),
        Just("\n"),
        Just(" "),
        Just("1e999"),
        Just("-"),
        Just("é"),
        Just("x"),
        Just("\u{0}"),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_gmn_parser_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = gmn::parse(&s);
        let _ = gmn::validate(&s, &Limits::default());
    }

    #[test]
    fn the_gmn_parser_never_panics_on_near_grammatical_input(s in gmn_like()) {
        let _ = gmn::validate(&s, &Limits::default());
        let _ = gmn::validate(&format!("{{{s}"), &Limits::default());
    }

    #[test]
    fn the_model_validator_never_panics(v in json_value()) {
        let _ = Model::from_json(&v, &Limits::default());
        let _ = gmn::parse_value(&v);
        let _ = parse_observations(&v, &[3, 2], &Limits::default());
        if let Ok(req) = serde_json::from_value::<RunRequest>(json!({"model": &v, "observations": &v})) {
            let _ = req.run(&Limits::default(), None);
        }
    }

    #[test]
    fn the_model_validator_never_panics_on_mutated_valid_models(d in dims(), path in prop::collection::vec(0usize..8, 1..6), replacement in json_value()) {
        let mut v = model_json(&d, false);
        // Replace one nested entry (whatever is at the path, as far as it goes) by arbitrary JSON.
        let keys = ["A", "B", "C", "D"];
        let mut pointer = format!("/{}", keys[path[0] % 4]);
        for &i in &path[1..] {
            match v.pointer(&pointer) {
                Some(Value::Array(items)) if !items.is_empty() => pointer.push_str(&format!("/{}", i % items.len())),
                _ => break,
            }
        }
        if let Some(slot) = v.pointer_mut(&pointer) {
            *slot = replacement;
        }
        if let Ok(model) = Model::from_json(&v, &Limits::default()) {
            let _ = CompiledModel::new(&model, &Settings::default(), &Limits::default());
        }
    }
}
