use crate::both_backends;
use crate::helpers::problem;
use reqwest::StatusCode;
use std::io::Write as _;

both_backends! {
    async fn metrics_use_route_templates_and_real_histograms(app) {
        assert_eq!(app.get("/api/v1/health").await.status(), StatusCode::OK);
        problem(app.get("/api/v1/no/such/route/123").await, StatusCode::NOT_FOUND).await;
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();
        for needle in [
            r#"http_requests_total{method="GET",route="/api/v1/health",status="200"}"#,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",status="200",le="0.005"}"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",status="200",le="0.5"}"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",status="200",le="10"}"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",status="200",le="+Inf"}"#,
            "http_requests_in_flight",
            "freeagentics_build_info{",
            "freeagentics_db_pool_connections{state=\"idle\"}",
            "freeagentics_db_pool_max_connections",
            "freeagentics_active_connections",
            "freeagentics_user_registrations_total",
            "freeagentics_agent_interactions_total",
            "freeagentics_coalition_formations_total{",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in /metrics");
        }
        if app.backend == crate::helpers::Backend::Postgres {
            // set by the readiness probe above (the value is process-wide, shared by parallel tests)
            assert!(text.lines().any(|l| l.starts_with("freeagentics_redis_up ")), "missing freeagentics_redis_up");
        }
        assert!(!text.contains("/api/v1/no/such/route/123"), "raw paths must never become labels");
        assert!(!text.contains("quantile="), "histograms, not summaries");
        check_with_promtool(&text);
    }
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
        assert!(
            std::env::var("CI").is_err_and(|_| true) || std::env::var("CI").is_ok_and(|v| v != "true"),
            "promtool is required in CI"
        );
        eprintln!("skipping promtool check: promtool not installed");
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool check metrics failed:\n{report}");
}
