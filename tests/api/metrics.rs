//! Metric values asserted exactly. Each test runs the real binary in a process of its own, so
//! every count in its `/metrics` is one the test caused: the test servers of the other modules
//! share this test binary's process-wide registry, where any test could raise any counter.
use crate::helpers::{PASSWORD, Process, TestDatabase, metric_value, redis_url, services_available};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::io::Write as _;

async fn register(client: &Client, base: &str, username: &str) -> Value {
    let body = json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD });
    let response = client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_count_by_route_template_in_real_histograms() {
    let mut process = Process::spawn(&[]).await;
    process.discard_log();
    let client = Client::new();
    for _ in 0..2 {
        assert_eq!(client.get(format!("{}/api/v1/health", process.base)).send().await.unwrap().status(), 200);
    }
    let missing = client.get(format!("{}/api/v1/no/such/route/123", process.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let response = client.get(format!("{}/metrics", process.base)).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let value = |series: &str| metric_value(&text, series);
    assert_eq!(value(r#"http_requests_total{method="GET",route="/api/v1/health",status="200"}"#), Some(2.0));
    assert_eq!(value(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#), Some(1.0));
    for le in ["0.005", "0.5", "10", "+Inf"] {
        let bucket = format!(
            r#"http_request_duration_seconds_bucket{{method="GET",route="/api/v1/health",status="200",le="{le}"}}"#
        );
        assert!(value(&bucket).is_some(), "missing {bucket}");
    }
    assert_eq!(
        value(r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",status="200",le="+Inf"}"#),
        Some(2.0)
    );
    for needle in [
        "http_requests_in_flight",
        "freeagentics_build_info{",
        "freeagentics_db_pool_connections{state=\"idle\"}",
        "freeagentics_db_pool_max_connections",
        "freeagentics_user_registrations_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in /metrics");
    }
    assert!(!text.contains("/api/v1/no/such/route/123"), "raw paths must never become labels");
    assert!(!text.contains("quantile="), "histograms, not summaries");
    check_with_promtool(&text);
}

/// Registrations, refresh-token reuse, failed and throttled logins and rate-limited requests, each
/// counted exactly as often as it happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_counters_count_exactly_what_happened() {
    let mut process = Process::spawn(&[
        ("LOGIN_THROTTLE_ACCOUNT_IP_FAILURES", "1".to_owned()),
        ("RATE_LIMIT_READS", "2,2/60".to_owned()),
    ])
    .await;
    process.discard_log();
    let client = Client::new();
    let base = process.base.clone();
    let session = register(&client, &base, "counted").await;
    let refresh = |token: &str| {
        client.post(format!("{base}/api/v1/auth/refresh")).json(&json!({ "refresh_token": token })).send()
    };
    let token = session["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(token).await.unwrap().status(), StatusCode::OK);
    assert_eq!(refresh(token).await.unwrap().status(), StatusCode::UNAUTHORIZED, "reuse");
    let login = |password: &'static str| {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username_or_email": "counted", "password": password }))
            .send()
    };
    assert_eq!(login("a wrong password").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("a wrong password").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    for expected in [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        assert_eq!(client.get(format!("{base}/api/v1/openapi.json")).send().await.unwrap().status(), expected);
    }
    let metric = |series: &'static str| process.metric(&client, series);
    assert_eq!(metric("freeagentics_user_registrations_total").await, 1.0);
    assert_eq!(metric(r#"freeagentics_token_refreshes_total{outcome="success"}"#).await, 1.0);
    assert_eq!(metric(r#"freeagentics_token_refreshes_total{outcome="reuse_detected"}"#).await, 1.0);
    assert_eq!(metric(r#"freeagentics_logins_total{outcome="failure"}"#).await, 1.0);
    assert_eq!(metric(r#"freeagentics_logins_total{outcome="throttled"}"#).await, 1.0);
    assert_eq!(metric(r#"freeagentics_rate_limited_total{class="reads",backend="local"}"#).await, 1.0);
}

/// The Redis-backed limiter counts under its own label, and the Redis probe reports Redis up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backed_limits_and_redis_health_are_reported() {
    if !services_available().await {
        return;
    }
    let database = TestDatabase::create().await;
    let prefix = format!("fa:test:{}:", uuid::Uuid::now_v7().simple());
    let mut process = Process::spawn(&[
        ("DATABASE_URL", database.url.clone()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix),
        ("RATE_LIMIT_READS", "1,1/60".to_owned()),
    ])
    .await;
    process.discard_log();
    let client = Client::new();
    let read = || client.get(format!("{}/api/v1/openapi.json", process.base)).send();
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);
    assert_eq!(read().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let ready = client.get(format!("{}/api/v1/health", process.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(process.metric(&client, r#"freeagentics_rate_limited_total{class="reads",backend="redis"}"#).await, 1.0);
    assert_eq!(process.metric(&client, "freeagentics_redis_up").await, 1.0);
}

/// `promtool check metrics` (Debian package `prometheus`) lints the exposition format.
fn check_with_promtool(text: &str) {
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        freeagentics_test_support::available(false, "promtool", &"not installed (Debian package prometheus)");
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool check metrics failed:\n{report}");
}

/// With Redis configured but down, the in-process limiter takes over and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_fallback_limiter_is_reported_while_redis_is_down() {
    let mut process = Process::spawn(&[
        ("REDIS_URL", "redis://127.0.0.1:1".to_owned()),
        ("REDIS_TIMEOUT_MS", "200".to_owned()),
        ("RATE_LIMIT_READS", "1,1/60".to_owned()),
    ])
    .await;
    process.discard_log();
    let client = Client::new();
    let read = || client.get(format!("{}/api/v1/openapi.json", process.base)).send();
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);
    assert_eq!(read().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(process.metric(&client, r#"freeagentics_rate_limited_total{class="reads",backend="local"}"#).await, 1.0);
    assert_eq!(process.metric(&client, "freeagentics_rate_limit_fallback_active").await, 1.0);
}
