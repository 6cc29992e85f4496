//! `POST /api/v1/inference/run` over a real socket against pymdp 0.0.7.1's own numbers: the parity
//! fixtures of `crates/inference/tests/fixtures` (written by benches/pymdp/make_fixtures.py), sent as
//! a client would send them and compared within 1e-6.
use crate::helpers::{Backend, TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOL: f64 = 1e-6;

fn fixtures(file: &str) -> Vec<Value> {
    let path = format!("{}/crates/inference/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let parsed: Value = serde_json::from_str(&text).unwrap();
    parsed["fixtures"].as_array().unwrap().iter().filter(|fx| fx.get("model").is_some()).cloned().collect()
}

fn numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

fn assert_close(what: &str, ours: &Value, theirs: &Value) {
    let (ours, theirs) = (numbers(ours), numbers(theirs));
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths differ");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() <= TOL, "{what}[{i}]: served {a}, pymdp {b}");
    }
}

/// Sends each fixture as a request; compares every step up to the first whose action differs from
/// pymdp's (a tie between actions, which the engine's parity tests resolve; after it the two runs
/// move differently). Returns the steps compared and the steps in all.
async fn check(app: &TestApp, token: &str, fixtures: &[Value]) -> (usize, usize) {
    let (mut compared, mut total) = (0, 0);
    for fx in fixtures {
        let name = fx["name"].as_str().unwrap();
        let mut body = json!({ "model": fx["model"], "observations": fx["observations"] });
        for (key, value) in fx["settings"].as_object().unwrap() {
            body[key] = value.clone();
        }
        let response =
            app.client.post(app.url("/api/v1/inference/run")).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let run: Value = response.json().await.unwrap();
        assert_eq!(run["policies"], fx["policies"], "{name}: policies in pymdp's order");
        let (ours, theirs) = (run["steps"].as_array().unwrap(), fx["steps"].as_array().unwrap());
        assert_eq!(ours.len(), theirs.len(), "{name}: one answer per observation");
        total += theirs.len();
        for (t, (our, their)) in ours.iter().zip(theirs).enumerate() {
            for key in ["qs", "q_pi", "G", "free_energy", "entropy"] {
                assert_close(&format!("{name} step {t} {key}"), &our[key], &their[key]);
            }
            compared += 1;
            if our["action"] != their["action"] {
                break;
            }
        }
    }
    (compared, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_give_pymdps_numbers_over_the_wire() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let user = app.user_with_role("modeller", "researcher").await;
    let two_factor = fixtures("two_factor.json");
    let random: Vec<Value> = fixtures("random.json").into_iter().take(30).collect();
    assert!(!two_factor.is_empty() && random.len() == 30);
    let (compared, total) = check(&app, &user.access, &two_factor).await;
    assert_eq!(compared, total, "the two-factor fixtures have no tied actions");
    let (compared, total) = check(&app, &user.access, &random).await;
    // ties cut a few runs short; most steps are compared
    assert!(compared * 10 >= total * 8, "compared {compared} of {total} steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_model_is_422_naming_the_tensor() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let user = app.user_with_role("modeller", "researcher").await;
    let mut fx = fixtures("two_factor.json").remove(0);
    // A's first column no longer sums to one
    fx["model"]["A"][0][0][0][0] = json!(0.5);
    let body = json!({ "model": fx["model"], "observations": fx["observations"] });
    let response =
        app.client.post(app.url("/api/v1/inference/run")).bearer_auth(&user.access).json(&body).send().await.unwrap();
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.iter().any(|field| field.contains('A')), "errors name A: {problem}");
}
