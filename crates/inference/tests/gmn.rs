//! The GMN parser and conversion: both forms, examples, positions in errors, limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use freeagentics_inference::gmn::{self, MAX_SPEC_BYTES};
use freeagentics_inference::{AgentState, CompiledModel, Limits, step};
use serde_json::json;

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn examples_parse_in_both_forms_to_the_same_model_and_step() {
    let examples = gmn::examples();
    let names: Vec<_> = examples.iter().map(|e| e.name).collect();
    assert_eq!(names, ["grid-explorer", "resource-collector", "coalition-coordinator"]);
    for ex in &examples {
        let text = gmn::parse(ex.text).unwrap_or_else(|e| panic!("{}: {e}", ex.name));
        let json_src = serde_json::to_string_pretty(&ex.json).unwrap();
        assert_eq!(gmn::detect_form(&json_src), gmn::Form::Json);
        let from_json = gmn::parse(&json_src).unwrap_or_else(|e| panic!("{} (JSON): {e}", ex.name));
        let (a, b) = (text.to_model(&limits()).unwrap(), from_json.to_model(&limits()).unwrap());
        assert_eq!(a.model, b.model, "{}", ex.name);
        assert_eq!(a.dimensions, b.dimensions, "{}", ex.name);
        assert_eq!(a.settings, b.settings, "{}", ex.name);
        assert!(a.metadata.contains_key("name"), "{}", ex.name);
        let compiled = CompiledModel::new(&a.model, &a.settings, &limits()).unwrap();
        let obs = vec![0; a.model.num_modalities()];
        let out = step(&compiled, &mut AgentState::new(1), &obs, None).unwrap();
        assert_eq!(out.q_pi.len(), a.dimensions.num_policies);
    }
}

#[test]
fn dimensions_of_the_examples() {
    let d = gmn::validate(gmn::examples()[0].text, &limits()).unwrap();
    assert_eq!((d.num_states.clone(), d.num_obs.clone(), d.num_controls.clone()), (vec![4], vec![2], vec![5]));
    assert_eq!((d.policy_len, d.num_policies, d.control_factors.clone()), (2, 25, vec![0]));
    assert_eq!(d.factors[0].action.as_deref(), Some("move"));
    let d = gmn::validate(gmn::examples()[2].text, &limits()).unwrap();
    assert_eq!(
        (d.num_states.clone(), d.num_controls.clone(), d.control_factors.clone()),
        (vec![3, 3], vec![3, 1], vec![0])
    );
    assert_eq!(d.modalities.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["partner_signal", "coordination"]);
}

#[test]
fn a_likelihood_linked_to_some_states_is_broadcast_over_the_others() {
    let spec = gmn::parse(gmn::examples()[2].text).unwrap();
    let m = spec.to_model(&limits()).unwrap().model;
    let a0 = &m.a()[0];
    assert_eq!(a0.shape(), &[3, 3, 3]);
    for o in 0..3 {
        for own in 0..3 {
            for partner in 0..3 {
                let want = if o == partner { 0.8 } else { 0.1 };
                assert_eq!(a0[[o, own, partner]], want);
            }
        }
    }
}

#[test]
fn the_original_services_example_spec_is_accepted_with_its_defaults() {
    // The spec the original parser documented (node without properties, a string with braces,
    // an llm_query node), converted with the documented defaults.
    let src = r#"
[nodes]
location: state {num_states: 4}
obs_location: observation {num_observations: 4}
move: action {num_actions: 5}
location_belief: belief
location_pref: preference {preferred_observation: 0}
location_likelihood: likelihood
location_transition: transition
llm_policy: llm_query {trigger_condition: "on_observation", prompt_template: "Given current location {obs}, suggest next action"}

[edges]
location -> location_likelihood: depends_on
location_likelihood -> obs_location: generates
location -> location_transition: depends_on
move -> location_transition: depends_on
location_pref -> obs_location: depends_on
location_belief -> location: depends_on
obs_location -> llm_policy: queries
llm_policy -> move: updates
"#;
    let m = gmn::parse(src).unwrap().to_model(&limits()).unwrap();
    assert_eq!((m.model.num_states(), m.model.num_controls()), (vec![4], vec![5]));
    assert!(m.model.a()[0].iter().all(|&x| x == 0.25), "default A is uniform");
    let b = m.model.b()[0].to_dense();
    for c in 0..5 {
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(b[[i, j, c]], if i == j { 1.0 } else { 0.0 }, "default B is the identity");
            }
        }
    }
    assert_eq!(m.model.c()[0].to_vec(), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(m.model.d()[0].to_vec(), vec![0.25; 4]);
}

fn field_errors(src: &str) -> Vec<(String, Option<usize>, Option<usize>, String)> {
    match gmn::parse(src).and_then(|s| s.to_model(&limits()).map(|_| ())) {
        Ok(()) => panic!("accepted: {src}"),
        Err(e) => e.0.into_iter().map(|e| (e.position.field, e.position.line, e.position.column, e.message)).collect(),
    }
}

#[test]
fn text_errors_carry_line_and_column() {
    let e = field_errors("[nodes]\ns: state {num_states: 2}\no: observaton {num_observations: 2}\n");
    assert_eq!((e[0].0.as_str(), e[0].1, e[0].2), ("nodes[1].type", Some(3), Some(4)));
    assert!(e[0].3.contains("unknown node type \"observaton\""), "{e:?}");

    let e = field_errors("[nodes]\ns: state {num_states: 2,, }\n");
    assert_eq!((e[0].1, e[0].2), (Some(2), Some(25)));

    let e = field_errors("s: state\n");
    assert!(e[0].3.contains("before any section"), "{e:?}");

    let e = field_errors("[nodes]\ns: state {num_states: 2}\n[edges]\ns -> nowhere: depends_on\n");
    assert!(e.iter().any(|x| x.0 == "edges[0].target" && x.3.contains("nowhere")), "{e:?}");
    assert!(e.iter().any(|x| x.3.contains("one observation node")), "{e:?}");
    assert!(e.iter().any(|x| x.3.contains("one action node")), "{e:?}");

    let e = field_errors(
        "[nodes]\nx: state {matrix: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n",
    );
    assert!(e[0].3.contains("nested deeper"), "{e:?}");
}

const SMALL: &str =
    "[nodes]\ns: state {num_states: 2}\no: observation {num_observations: 2}\na: action {num_actions: 2}\n";

#[test]
fn conversion_errors_name_the_node_property_and_line() {
    let src = format!(
        "{SMALL}l: likelihood {{matrix: [[0.5, 0.7], [0.5, 0.4]]}}\n[edges]\na -> s: influences\nl -> o: generates\n"
    );
    let e = field_errors(&src);
    assert_eq!((e[0].0.as_str(), e[0].1), ("nodes[3].properties.matrix", Some(5)), "{e:?}");
    assert!(e[0].3.contains("columns sum to 1") && e[0].3.contains("A[0]"), "{e:?}");

    let src = format!(
        "{SMALL}l: likelihood {{matrix: [[1, 0, 0], [0, 1, 1]]}}\n[edges]\na -> s: influences\nl -> o: generates\n"
    );
    let e = field_errors(&src);
    assert!(e[0].0 == "nodes[3].properties.matrix" && e[0].3.contains("expected [2, 2]"), "{e:?}");

    let e = field_errors(&format!("{SMALL}[edges]\n"));
    assert!(e[0].3.contains("controls no state"), "{e:?}");

    let e = field_errors(
        "[nodes]\ns: state\no: observation {num_observations: 2}\na: action {num_actions: 2}\n[edges]\na -> s: influences\n",
    );
    assert_eq!(e[0].0, "nodes[0].properties.num_states", "{e:?}");

    let src = format!(
        "{SMALL}t: transition {{matrix: [[[1, 1], [0, 0]], [[0, 0], [1, 1]]]}}\n[edges]\na -> t: influences\nt -> s: updates\n"
    );
    gmn::parse(&src).unwrap().to_model(&limits()).unwrap();
    let src =
        format!("{SMALL}t: transition {{matrix: [[[1, 1], [0, 0]], [[0, 0], [1, 1]]]}}\n[edges]\nt -> s: updates\n");
    let e = field_errors(&src);
    assert!(e.iter().any(|x| x.3.contains("controls no state")), "{e:?}");
}

#[test]
fn json_errors_carry_the_field_path_or_the_syntax_position() {
    let err = gmn::parse("{\"nodes\": [\n  {\"id\": \"s\", \"type\": \"state\",}\n]}").unwrap_err();
    assert_eq!((err.0[0].position.line, err.0[0].position.field.as_str()), (Some(2), "spec"));

    let spec = json!({"nodes": [{"id": "s", "type": "state", "properties": {"num_states": 2}}, {"id": "o", "type": "observation"}, {"id": 3, "type": "action"}], "edges": [{"source": "s"}]});
    let err = gmn::parse_value(&spec).unwrap_err();
    let fields: Vec<_> = err.0.iter().map(|e| e.position.field.as_str()).collect();
    assert!(
        fields.contains(&"nodes[2].id") && fields.contains(&"edges[0].target") && fields.contains(&"edges[0].type"),
        "{fields:?}"
    );

    let spec = json!({"nodes": [{"id": "s", "type": "state", "properties": {"num_states": 0}}, {"id": "o", "type": "observation", "properties": {"num_observations": 2}}, {"id": "a", "type": "action", "properties": {"num_actions": 2}}], "edges": [{"source": "a", "target": "s", "type": "influences"}]});
    let err = gmn::parse_value(&spec).unwrap().to_model(&limits()).unwrap_err();
    assert_eq!(err.0[0].position.field, "nodes[0].properties.num_states");
    let fe = err.field_errors("spec");
    assert_eq!(fe[0].field, "spec.nodes[0].properties.num_states");
}

#[test]
fn specs_over_100_kb_are_refused_before_parsing() {
    let big = format!("[nodes]\n{}", "# padding\n".repeat(MAX_SPEC_BYTES / 10 + 1));
    let err = gmn::parse(&big).unwrap_err();
    assert!(err.0[0].message.contains("at most 102400"), "{err}");
    assert!(gmn::parse(&big[..MAX_SPEC_BYTES]).is_err_and(|e| !e.0[0].message.contains("at most 102400")));
}

#[test]
fn limits_apply_to_gmn_models() {
    let small = Limits { max_states_per_factor: 3, ..Limits::default() };
    let src = "[nodes]\ns: state {num_states: 4}\no: observation {num_observations: 2}\na: action {num_actions: 2}\n[edges]\na -> s: influences\n";
    let err = gmn::validate(src, &small).unwrap_err();
    assert!(err.0[0].message.contains("between 1 and 3"), "{err}");
    let few = Limits { max_policies: 24, ..Limits::default() };
    let err = gmn::validate(gmn::examples()[0].text, &few).unwrap_err();
    assert_eq!(err.0[0].position.field, "policy_len", "{err}");
}

#[test]
fn the_text_form_example_in_the_docs_is_valid() {
    let doc = include_str!("../../../docs/INFERENCE.md");
    let start = doc.find("```text\n").expect("a text block") + "```text\n".len();
    let block = &doc[start..start + doc[start..].find("```").expect("closed")];
    let d = gmn::validate(block, &limits()).unwrap();
    assert_eq!((d.num_states, d.num_controls, d.policy_len), (vec![4], vec![5], 2));
}
