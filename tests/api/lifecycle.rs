//! Maintenance mode and graceful shutdown.
use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, eventually, problem};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

both_backends! {
    async fn maintenance_turns_on_and_off_without_restart(app) {
        assert_eq!(app.get("/api/v1/openapi.json").await.status(), StatusCode::OK);
        app.set_maintenance("true\n");
        assert!(eventually(|| async { app.get("/api/v1/openapi.json").await.status() == StatusCode::SERVICE_UNAVAILABLE }).await);
        let response = app.get("/api/v1/openapi.json").await;
        assert!(response.headers().contains_key("retry-after"));
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(body["detail"].as_str().unwrap().contains("maintenance"));
        // probes and scrapes keep working during maintenance
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/v1/health").await.status(), StatusCode::OK);
        assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
        assert!(app.get("/metrics").await.text().await.unwrap().contains("freeagentics_maintenance_mode 1"));
        // unknown routes are also under maintenance, not 404
        assert_eq!(app.get("/api/v1/nothing-here").await.status(), StatusCode::SERVICE_UNAVAILABLE);
        app.set_maintenance("false");
        assert!(eventually(|| async { app.get("/api/v1/openapi.json").await.status() == StatusCode::OK }).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_turns_readiness_503_while_still_serving() {
    let options = Options::new(Backend::Sqlite).with("SHUTDOWN_DRAIN_SECONDS", "1.5");
    let mut app = TestApp::spawn_with(options).await.unwrap();
    assert_eq!(app.get("/api/v1/health").await.status(), StatusCode::OK);
    let started = Instant::now();
    app.begin_shutdown();
    assert!(eventually(|| async { app.get("/api/v1/health").await.status() == StatusCode::SERVICE_UNAVAILABLE }).await);
    let body: serde_json::Value = app.get("/api/v1/health").await.json().await.unwrap();
    assert_eq!(body["draining"], true);
    assert_eq!(body["status"], "unhealthy");
    // other routes keep answering during the drain period
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    app.stop().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1400), "stopped before the drain period ended");
    assert!(app.client.get(app.url("/health")).send().await.is_err(), "the listener is closed after shutdown");
}
