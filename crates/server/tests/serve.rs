//! The serve loop over real sockets with a tiny router: what the connection layer does to upgraded
//! WebSockets, long requests and shutdown, independent of the application's routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use freeagentics_server::serve::{HttpSettings, ServeControl, serve};
use futures_util::{SinkExt as _, StreamExt as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const HEADER: Duration = Duration::from_millis(300);
const IDLE: Duration = Duration::from_millis(500);

struct Server {
    addr: SocketAddr,
    control: ServeControl,
    task: tokio::task::JoinHandle<()>,
}

fn settings() -> HttpSettings {
    HttpSettings {
        header_read_timeout: HEADER,
        keepalive_timeout: IDLE,
        http2_keepalive_interval: None,
        max_header_bytes: 16 * 1024,
        max_connections: 100,
    }
}

async fn start() -> Server {
    start_with(settings()).await
}

async fn start_with(settings: HttpSettings) -> Server {
    let router = Router::new()
        .route("/client", get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.ip().to_string() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                "done"
            }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if socket.send(message).await.is_err() {
                            return;
                        }
                    }
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let control = ServeControl::new();
    let make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let serving = serve(listener, "serve-test", make_service, settings, control.clone());
    let connections = control.clone();
    let task = tokio::spawn(async move {
        serving.await;
        connections.connections_closed().await;
    });
    Server { addr, control, task }
}

/// Sends a GET on `socket` and reads its whole response (the bodies here are short, unchunked).
async fn request(socket: &mut TcpStream, path: &str) -> String {
    socket.write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-response: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// Waits for the server to close `socket`; returns how long that took.
async fn closed_after(socket: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "expected a close, got {read:?}");
    started.elapsed()
}

#[tokio::test]
async fn requests_see_the_client_address() {
    let server = start().await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut socket, "/client").await.ends_with("127.0.0.1"));
}

#[tokio::test]
async fn an_idle_websocket_outlives_the_http_idle_timeout() {
    let server = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.unwrap();
    // a plain keep-alive connection, idle as long, is closed meanwhile
    let mut http = TcpStream::connect(server.addr).await.unwrap();
    request(&mut http, "/client").await;
    tokio::time::sleep(IDLE * 3).await;
    assert!(closed_after(&mut http).await < Duration::from_millis(100), "the HTTP connection was closed already");
    ws.send(tokio_tungstenite::tungstenite::Message::text("still there?")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(2), ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "still there?");
}

#[tokio::test]
async fn a_request_longer_than_the_idle_timeout_is_answered() {
    let server = start().await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut socket, "/slow").await.ends_with("done"));
    // then the connection idles out as usual
    let idle = closed_after(&mut socket).await;
    assert!(idle >= IDLE - Duration::from_millis(50) && idle < IDLE + Duration::from_secs(1), "closed after {idle:?}");
}

#[tokio::test]
async fn stopping_closes_idle_connections_at_once_and_lets_in_flight_requests_finish() {
    let server = start().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    request(&mut idle, "/client").await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.control.stop_accepting();
    assert!(closed_after(&mut idle).await < Duration::from_millis(200), "idle connections close at once");
    assert!(TcpStream::connect(server.addr).await.is_err(), "the listener is closed");
    let mut response = String::new();
    busy.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("done"), "{response}");
    assert!(response.to_ascii_lowercase().contains("connection: close"), "{response}");
    tokio::time::timeout(Duration::from_secs(1), server.task).await.expect("every connection closed").unwrap();
}

#[tokio::test]
async fn abort_drops_what_is_still_running() {
    let server = start().await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.control.stop_accepting();
    server.control.abort();
    assert!(closed_after(&mut busy).await < Duration::from_millis(200));
    tokio::time::timeout(Duration::from_millis(500), server.task).await.expect("the serve task ended").unwrap();
}

/// HTTP/2 (prior knowledge, as a mesh or gRPC-style proxy speaks it): served, kept alive with
/// pings, and closed when idle. The ping acknowledgements arriving while idle must not count as a
/// new request head, or the connection would be cut after the (shorter) header timeout.
#[tokio::test]
async fn http2_connections_are_pinged_and_closed_after_the_idle_timeout() {
    let server = start_with(HttpSettings {
        header_read_timeout: Duration::from_millis(200),
        keepalive_timeout: Duration::from_millis(800),
        http2_keepalive_interval: Some(Duration::from_millis(50)),
        ..settings()
    })
    .await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(async move {
        let _ = connection.await;
        Instant::now()
    });
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(format!("http://{}/client", server.addr)).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(text, b"127.0.0.1");
    drop(body);
    let idle_from = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), connection).await.expect("closed when idle").unwrap();
    let idle = closed - idle_from;
    assert!(idle >= Duration::from_millis(750) && idle < Duration::from_millis(1800), "closed after {idle:?}");
}
