//! The connection layer (issue #17) and the metrics listener, over raw sockets: slow, idle,
//! oversized and surplus clients cannot hold the server. Upgraded WebSockets are covered at the
//! serve-loop level (crates/server/tests/serve.rs) until the API has a WebSocket route.
use crate::helpers::{Backend, Options, Process, TestApp, metric_value, problem};
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n";

async fn app(env: &[(&'static str, &str)]) -> TestApp {
    let options = env.iter().fold(Options::new(Backend::Sqlite), |options, (k, v)| options.with(k, *v));
    TestApp::spawn_with(options).await.unwrap()
}

/// Reads one response (these are never chunked) and returns it whole.
async fn read_response(socket: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-response: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn get_health(socket: &mut TcpStream) -> String {
    socket.write_all(GET_HEALTH).await.unwrap();
    read_response(socket).await
}

/// Waits (up to 5 s) for the server to close `socket`, reading and dropping anything it sends.
async fn wait_for_close(socket: &mut TcpStream) -> Instant {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    });
    closed.await.expect("the server closes the connection within 5 s")
}

#[track_caller]
fn assert_between(elapsed: Duration, low_ms: u64, high_ms: u64) {
    assert!(
        elapsed >= Duration::from_millis(low_ms) && elapsed <= Duration::from_millis(high_ms),
        "closed after {elapsed:?}, expected {low_ms}–{high_ms} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_request_heads_are_closed_within_the_header_timeout() {
    let app = app(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "0.5"), ("HTTP_KEEPALIVE_TIMEOUT_SECONDS", "30")]).await;

    // a header line every 100 ms, never the blank line that ends the head
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n").await.unwrap();
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
                break;
            }
        }
        Instant::now()
    };
    let closed = tokio::time::timeout(Duration::from_secs(5), trickle).await.expect("closed within 5 s");
    assert_between(closed - started, 450, 1200);

    // a client that connects and sends nothing
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    assert_between(wait_for_close(&mut silent).await - started, 450, 1200);

    // after a request, the next head gets the header timeout from its first byte, not the
    // (much longer) keep-alive
    let mut reused = TcpStream::connect(app.addr).await.unwrap();
    assert!(get_health(&mut reused).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    reused.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    assert_between(wait_for_close(&mut reused).await - started, 450, 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_are_closed_after_the_idle_timeout() {
    let app = app(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "0.3"), ("HTTP_KEEPALIVE_TIMEOUT_SECONDS", "1")]).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    assert!(get_health(&mut socket).await.starts_with("HTTP/1.1 200"));
    // idle for most of the timeout, then used again: the idle period starts over
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(get_health(&mut socket).await.starts_with("HTTP/1.1 200"));
    let idle_from = Instant::now();
    assert_between(wait_for_close(&mut socket).await - idle_from, 950, 2000);
}

/// The idle timeout applies between requests only: a request whose body arrives slowly (here for
/// three times the idle timeout) is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_is_not_cut_by_the_idle_or_header_timeout() {
    let app = app(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "0.3"), ("HTTP_KEEPALIVE_TIMEOUT_SECONDS", "0.5")]).await;
    let body =
        serde_json::json!({"username": "patient", "email": "patient@example.com", "password": "a sturdy passphrase"})
            .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{head}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    socket.write_all(tail.as_bytes()).await.unwrap();
    let response = read_response(&mut socket).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused_with_431() {
    let app = app(&[]).await; // HTTP_MAX_HEADER_BYTES: 16 KiB
    let with_header =
        |bytes: usize| format!("GET /health HTTP/1.1\r\nhost: test\r\nx-big: {}\r\n\r\n", "a".repeat(bytes));

    let mut fits = TcpStream::connect(app.addr).await.unwrap();
    fits.write_all(with_header(15 * 1024).as_bytes()).await.unwrap();
    assert!(read_response(&mut fits).await.starts_with("HTTP/1.1 200"), "15 KiB of headers are served");

    for size in [17 * 1024, 200 * 1024] {
        let mut socket = TcpStream::connect(app.addr).await.unwrap();
        // the whole request is written (the server reads the rest before closing) and the
        // answer is read, not lost to a reset
        socket.write_all(with_header(size).as_bytes()).await.expect("the client can finish sending");
        let mut response = String::new();
        socket.read_to_string(&mut response).await.expect("a clean close, not a reset");
        assert!(response.starts_with("HTTP/1.1 431"), "{size} bytes: {response}");
        assert!(response.to_ascii_lowercase().contains("connection: close"), "{response}");
    }

    // the header count limit stays as it was
    let many: String = (0..500).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(format!("GET /health HTTP/1.1\r\nhost: test\r\n{many}\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
}

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The real binary (its own metrics registry) with the cap at 2; `/metrics` on its own listener
/// stays reachable while the main port is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_refuses_the_connection_past_it_while_existing_ones_are_served() {
    let process =
        Process::spawn(&[("HTTP_MAX_CONNECTIONS", "2".to_owned()), ("METRICS_BIND_ADDR", "127.0.0.1:0".to_owned())])
            .await;
    let addr: SocketAddr = format!("127.0.0.1:{}", process.port()).parse().unwrap();
    let metrics = process.metrics_base.clone().expect("the metrics listener is logged");
    let refused = r#"freeagentics_http_connections_refused_total{listener="main"}"#;
    let open = r#"freeagentics_http_connections_open{listener="main"}"#;
    let before = scrape(&metrics).await;
    assert_eq!(metric_value(&before, r#"freeagentics_http_connections_max{listener="main"}"#), Some(2.0));
    assert_eq!(metric_value(&before, refused), Some(0.0));

    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(get_health(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(get_health(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(GET_HEALTH).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer)).await.expect("closed at once");
    let answer = String::from_utf8_lossy(&answer);
    // a best-effort 503 problem, or just the close
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
    if !answer.is_empty() {
        assert!(answer.contains("application/problem+json") && answer.contains("retry-after: 1"), "{answer}");
    }

    assert!(get_health(&mut first).await.starts_with("HTTP/1.1 200"), "an existing connection is still served");
    let during = scrape(&metrics).await;
    assert_eq!(metric_value(&during, refused), Some(1.0));
    assert_eq!(metric_value(&during, open), Some(2.0));

    // a slot frees when a client leaves
    drop(second);
    let mut fourth = None;
    for _ in 0..50 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.write_all(GET_HEALTH).await.unwrap();
        let mut buf = [0u8; 16];
        if matches!(socket.read(&mut buf).await, Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200")) {
            fourth = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fourth.is_some(), "a new connection is served once one closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_idle_timeouts_are_counted() {
    let process = Process::spawn(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECONDS", "0.3".to_owned()),
        ("HTTP_KEEPALIVE_TIMEOUT_SECONDS", "0.5".to_owned()),
        ("METRICS_BIND_ADDR", "127.0.0.1:0".to_owned()),
    ])
    .await;
    let addr: SocketAddr = format!("127.0.0.1:{}", process.port()).parse().unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(get_health(&mut idle).await.starts_with("HTTP/1.1 200"));
    wait_for_close(&mut silent).await;
    wait_for_close(&mut idle).await;
    let text = scrape(process.metrics_base.as_deref().unwrap()).await;
    let timeouts = |kind: &str| {
        metric_value(&text, &format!(r#"freeagentics_http_connection_timeouts_total{{listener="main",kind="{kind}"}}"#))
    };
    assert_eq!(timeouts("header"), Some(1.0));
    assert_eq!(timeouts("idle"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bind_addr_moves_metrics_to_their_own_port() {
    let app = app(&[("METRICS_BIND_ADDR", "127.0.0.1:0")]).await;
    let metrics = app.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics, app.addr);
    let response = app.client.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(response.text().await.unwrap().contains("freeagentics_http_connections_open{listener=\"main\"}"));
    // the main port answers 404 there, like for any unknown path
    problem(app.get("/metrics").await, StatusCode::NOT_FOUND).await;
    // and the metrics port serves nothing else
    problem(app.client.get(format!("http://{metrics}/health")).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    problem(app.client.get(format!("http://{metrics}/api/v1/health")).send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metrics_bind_addr_the_main_port_serves_metrics() {
    let app = app(&[]).await;
    assert_eq!(app.metrics_addr, None);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("freeagentics_http_connections_open{listener=\"main\"}"));
}

/// Scrapes of the metrics listener go through the same middleware: each one is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_of_the_metrics_listener_are_measured() {
    let process = Process::spawn(&[("METRICS_BIND_ADDR", "127.0.0.1:0".to_owned())]).await;
    let metrics = process.metrics_base.clone().unwrap();
    let series = r#"http_requests_total{method="GET",route="/metrics",status="200"}"#;
    let first = metric_value(&scrape(&metrics).await, series).unwrap_or(0.0);
    let second = metric_value(&scrape(&metrics).await, series).unwrap_or(0.0);
    assert_eq!(second - first, 1.0, "the first scrape is counted in the second");
}
