//! Maintenance mode and graceful shutdown.
use crate::both_backends;
use crate::helpers::{Backend, Options, Process, TestApp, eventually, problem};
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

/// The real binary, SIGTERM in the middle of a request whose body is still arriving: the request
/// completes, new connections are refused after the drain, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_in_flight_request_and_exits_zero() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut process =
        Process::spawn(&[("SHUTDOWN_DRAIN_SECONDS", "0.5".to_owned()), ("SHUTDOWN_TIMEOUT_SECONDS", "10".to_owned())])
            .await;
    let port = process.port();
    let client = reqwest::Client::new();

    let body = serde_json::json!({"username": "late", "email": "late@example.com", "password": "a sturdy passphrase"})
        .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the server start on the request

    let started = Instant::now();
    process.sigterm();
    // past the drain period: the listener is closed, but the request already in flight still runs
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(process.child.try_wait().unwrap().is_none(), "still running while a request is in flight");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "no new connections after the drain period"
    );
    socket.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "the in-flight request completed: {response}");

    let status = tokio::time::timeout(Duration::from_secs(10), process.child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(started.elapsed() >= Duration::from_millis(500), "served through the drain period");
    assert!(client.get(format!("{}/health", process.base)).send().await.is_err(), "nothing listens after exit");
}
