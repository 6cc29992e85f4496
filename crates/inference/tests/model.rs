//! Model parsing and validation (errors name tensor, index and rule), the stateless run, hashes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Instant;

use freeagentics_inference::{
    CompileError, CompiledModel, Limits, Model, ModelParts, Rule, RunError, RunRequest, Settings, StepError,
    Transition, run,
};
use ndarray::{Array1, Array3, ArrayD, IxDyn};
use serde_json::{Value, json};

/// Two factors (2 and 4 states, the second uncontrolled), two modalities.
fn two_by_four() -> Value {
    let half = json!([0.5, 0.5, 0.5, 0.5]);
    let quarter = json!([0.25, 0.25, 0.25, 0.25]);
    let a1_row = json!([quarter, quarter]);
    json!({
        "A": [[[half, half], [half, half]], [a1_row, a1_row, a1_row, a1_row]],
        "B": [[[[1, 0], [0, 1]], [[0, 1], [1, 0]]], [[[1], [0], [0], [0]], [[0], [1], [0], [0]], [[0], [0], [1], [0]], [[0], [0], [0], [1]]]],
        "C": [[1.0, 0.0], [0.0, 0.0, 0.0, 2.0]],
    })
}

fn errors(v: &Value) -> Vec<(String, Rule)> {
    Model::from_json(v, &Limits::default()).unwrap_err().0.into_iter().map(|e| (e.field(), e.rule)).collect()
}

#[test]
fn a_valid_model_round_trips_through_json_with_the_same_hash() {
    let m = Model::from_json(&two_by_four(), &Limits::default()).unwrap();
    assert_eq!((m.num_states(), m.num_obs(), m.num_controls()), (vec![2, 4], vec![2, 4], vec![2, 1]));
    assert_eq!(m.control_factors(), &[0]);
    assert_eq!(m.d()[1].to_vec(), vec![0.25; 4], "D defaults to uniform");
    let back = Model::from_json(&m.to_json(), &Limits::default()).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.content_hash(), m.content_hash());
    let mut changed = two_by_four();
    changed["C"][0][0] = json!(1.5);
    assert_ne!(Model::from_json(&changed, &Limits::default()).unwrap().content_hash(), m.content_hash());
}

#[test]
fn a_column_that_does_not_sum_to_one_is_named_by_tensor_index_and_rule() {
    let mut v = two_by_four();
    v["A"][1][0][1][2] = json!(0.5); // column A[1][:, 1, 2] now sums to 1.25
    let err = Model::from_json(&v, &Limits::default()).unwrap_err();
    let e = &err.0[0];
    assert_eq!((e.tensor.as_str(), e.index.clone(), e.rule), ("A[1]", vec![0, 1, 2], Rule::ColumnsNormalised));
    assert!(e.message.contains("sums to 1.25"), "{e}");
    let fe = err.field_errors_under("model");
    assert_eq!(fe[0].field, "model.A[1][0][1][2]");
    assert!(fe[0].message.contains("columns sum to 1 within 1e-6"), "{}", fe[0].message);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["rule"], "columns sum to 1 within 1e-6");
}

#[test]
fn shape_type_sign_and_key_errors() {
    let mut v = two_by_four();
    v["B"][0][1][0][0] = json!(-1);
    assert!(errors(&v).contains(&("B[0][1][0][0]".into(), Rule::NonNegative)));

    let mut v = two_by_four();
    v["A"][0][1] = json!([0.5, 0.5]);
    assert_eq!(errors(&v), vec![("A[0][1][0]".into(), Rule::Shape)]);

    let mut v = two_by_four();
    v["A"][0][0][0][1] = json!("x");
    assert_eq!(errors(&v), vec![("A[0][0][0][1]".into(), Rule::Type)]);

    let mut v = two_by_four();
    v["A"][0] = json!([[0.5, 0.5], [0.5, 0.5]]);
    assert_eq!(errors(&v)[0].1, Rule::Shape);

    let mut v = two_by_four();
    v["colour"] = json!(1);
    v.as_object_mut().unwrap().remove("B");
    let e = errors(&v);
    assert!(e.contains(&("colour".into(), Rule::UnknownKey)) && e.contains(&("B".into(), Rule::Required)), "{e:?}");

    let mut v = two_by_four();
    v["D"] = json!([[0.5, 0.6], [0.25, 0.25, 0.25, 0.25]]);
    assert_eq!(errors(&v), vec![("D[0]".into(), Rule::Normalised)]);

    let mut v = two_by_four();
    v["C"] = json!([[1.0, 0.0]]);
    assert_eq!(errors(&v), vec![("C".into(), Rule::Shape)]);

    let mut v = two_by_four();
    v["control_factors"] = json!([1]);
    assert_eq!(errors(&v), vec![("control_factors".into(), Rule::ControlFactors)]);
    v["control_factors"] = json!([0]);
    assert!(Model::from_json(&v, &Limits::default()).is_ok());

    assert_eq!(errors(&json!([1, 2])), vec![("model".into(), Rule::Type)]);
}

#[test]
fn in_process_models_are_checked_for_finite_values_too() {
    let parts = ModelParts {
        a: vec![ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![f64::NAN, 0.5, 0.5, 0.5]).unwrap()],
        b: vec![Transition::Dense(Array3::from_shape_vec((2, 2, 1), vec![1.0, 0.0, 0.0, 1.0]).unwrap())],
        c: Some(vec![Array1::from(vec![f64::INFINITY, 0.0])]),
        ..ModelParts::default()
    };
    let err = Model::new(parts, &Limits::default()).unwrap_err();
    let got: Vec<_> = err.0.iter().map(|e| (e.field(), e.rule)).collect();
    assert_eq!(got, vec![("A[0][0][0]".into(), Rule::Finite), ("C[0][0]".into(), Rule::Finite)]);
}

#[test]
fn limits_bound_sizes_before_work_is_done() {
    let tight = Limits { max_states_per_factor: 3, ..Limits::default() };
    let e = Model::from_json(&two_by_four(), &tight).unwrap_err();
    assert_eq!((e.0[0].tensor.as_str(), e.0[0].rule), ("B[1]", Rule::Limit));

    let tiny = Limits { max_tensor_elements: 10, ..Limits::default() };
    let e = Model::from_json(&two_by_four(), &tiny).unwrap_err();
    assert_eq!(e.0[0].rule, Rule::Limit);

    let one = Limits { max_factors: 1, ..Limits::default() };
    assert_eq!(Model::from_json(&two_by_four(), &one).unwrap_err().0[0].field(), "B");

    let m = Model::from_json(&two_by_four(), &Limits::default()).unwrap();
    let few = Limits { max_policies: 7, ..Limits::default() };
    let err = CompiledModel::new(&m, &Settings { policy_len: 3, ..Settings::default() }, &few).unwrap_err();
    assert!(matches!(&err, CompileError::Settings(e) if e[0].field == "policy_len"), "{err}");
    let err =
        CompiledModel::new(&m, &Settings { policy_len: 9, ..Settings::default() }, &Limits::default()).unwrap_err();
    assert!(matches!(&err, CompileError::Settings(e) if e[0].field == "policy_len"), "{err}");
    let err =
        CompiledModel::new(&m, &Settings { gamma: f64::NAN, ..Settings::default() }, &Limits::default()).unwrap_err();
    assert!(matches!(&err, CompileError::Settings(e) if e[0].field == "gamma"), "{err}");
}

#[test]
fn e_must_have_one_entry_per_policy() {
    let mut v = two_by_four();
    v["E"] = json!([0.5, 0.5]);
    let m = Model::from_json(&v, &Limits::default()).unwrap();
    assert!(CompiledModel::new(&m, &Settings::default(), &Limits::default()).is_ok());
    let err =
        CompiledModel::new(&m, &Settings { policy_len: 2, ..Settings::default() }, &Limits::default()).unwrap_err();
    assert_eq!(err.field_errors("model")[0].field, "model.E");
}

#[test]
fn sparse_and_dense_storage_of_one_tensor_are_one_model() {
    let dense = Transition::Dense(Array3::from_shape_vec((2, 2, 1), vec![1.0, 0.0, 0.0, 1.0]).unwrap());
    let sparse = Transition::sparse(2, 1, &[(0, 0, 0, 1.0), (1, 1, 0, 1.0)]);
    let make = |b: Transition| {
        let a = vec![ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.9, 0.1, 0.1, 0.9]).unwrap()];
        Model::new(ModelParts { a, b: vec![b], ..ModelParts::default() }, &Limits::default()).unwrap()
    };
    let (x, y) = (make(dense), make(sparse));
    assert_eq!(x, y);
    assert_eq!(x.content_hash(), y.content_hash());
}

fn request(extra: Value) -> RunRequest {
    let mut body = json!({"model": two_by_four(), "observations": [[0, 1], [1, 3]]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    serde_json::from_value(body).unwrap()
}

#[test]
fn a_run_answers_policies_and_one_record_per_step() {
    let req = request(json!({"policy_len": 2}));
    assert_eq!(req.settings(), Settings { policy_len: 2, ..Settings::default() });
    let out = req.run(&Limits::default(), None).unwrap();
    assert_eq!(out.policies.len(), 4);
    assert_eq!(
        out.policies[1],
        vec![vec![0, 0], vec![1, 0]],
        "[policy][timestep][factor], last factor of the last step fastest"
    );
    assert_eq!(out.steps.len(), 2);
    let step = serde_json::to_value(&out.steps[0]).unwrap();
    for key in ["qs", "q_pi", "G", "action", "free_energy", "entropy"] {
        assert!(step.get(key).is_some(), "{key} missing from {step}");
    }
    assert_eq!(out.steps[1].qs.len(), 2);
    // The same request gives the same answer (seed defaults to 0).
    assert_eq!(req.run(&Limits::default(), None).unwrap(), out);
}

#[test]
fn run_errors_name_the_step_modality_and_field() {
    let err = request(json!({"observations": [[0, 1], [2, 3]]})).run(&Limits::default(), None).unwrap_err();
    let fe = err.field_errors();
    assert_eq!(fe[0].field, "observations[1][0]");
    assert!(fe[0].message.contains("step 1, modality 0") && fe[0].message.contains("0..2"), "{}", fe[0].message);
    let err = request(json!({"observations": [[0]]})).run(&Limits::default(), None).unwrap_err();
    assert_eq!(err.field_errors()[0].field, "observations[0]");
    let err = request(json!({"policy_len": 0})).run(&Limits::default(), None).unwrap_err();
    assert_eq!(err.field_errors()[0].field, "policy_len");
    let mut bad = two_by_four();
    bad["A"][0][0][0][0] = json!(2);
    let err = request(json!({"model": bad})).run(&Limits::default(), None).unwrap_err();
    assert!(matches!(err, RunError::Model(_)));
    assert!(err.field_errors()[0].field.starts_with("model.A[0]"), "{:?}", err.field_errors());
    assert!(serde_json::from_value::<RunRequest>(json!({"model": {}, "observations": [], "extra": 1})).is_err());
}

#[test]
fn a_run_past_its_deadline_is_a_distinct_error() {
    let built =
        freeagentics_inference::templates::build("basic-explorer", &json!({"horizon": 3}), &Limits::default()).unwrap();
    let m = CompiledModel::new(&built.model, &built.settings, &Limits::default()).unwrap();
    let err = run(&m, &[vec![4], vec![0]], 0, Some(Instant::now())).unwrap_err();
    assert!(err.is_deadline() && err.field_errors().is_empty());
    assert!(matches!(err, RunError::Step { step: 0, source: StepError::DeadlineExceeded }));
}

#[test]
fn one_modality_observations_may_be_bare_indices() {
    let built = freeagentics_inference::templates::build(
        "basic-explorer",
        &json!({"width": 3, "height": 3, "horizon": 1}),
        &Limits::default(),
    )
    .unwrap();
    let req: RunRequest =
        serde_json::from_value(json!({"model": built.model.to_json(), "observations": [4, [2]]})).unwrap();
    assert_eq!(req.run(&Limits::default(), None).unwrap().steps.len(), 2);
}

#[test]
fn compiled_models_and_agent_state_cross_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CompiledModel>();
    shareable::<freeagentics_inference::AgentState>();
    shareable::<Model>();
    let state = freeagentics_inference::AgentState::new(3);
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json, json!({"qs": [], "last_action": null, "step_count": 0, "rng": {"seed": 3, "word_pos": 0}}));
}
