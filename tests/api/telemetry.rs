//! Logs and traces of the real binary: JSON log lines per request without secrets, and OTLP/HTTP
//! trace export that continues the caller's W3C `traceparent`.
use crate::helpers::Process;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A minimal OTLP/HTTP collector: answers 200 to every POST and hands over the bodies.
async fn fake_collector() -> (u16, tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    let body = buffer[end + 4..end + 4 + length].to_vec();
                    let _ = tx.send((head.lines().next().unwrap_or("").to_owned(), body));
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
                    buffer.drain(..end + 4 + length);
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_otlp_traces_continue_the_callers_trace() {
    let (collector, mut exports) = fake_collector().await;
    let mut process = Process::spawn(&[
        ("SHUTDOWN_DRAIN_SECONDS", "0".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{collector}")),
    ])
    .await;
    let base = process.base.clone();
    let client = reqwest::Client::new();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client
        .get(format!("{base}/api/v1/openapi.json?token=query-secret-value"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("authorization", "Bearer header-secret-value")
        .header("x-request-id", "req-telemetry-1")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let mut log = process.take_log();
    let reader = tokio::spawn(async move {
        let mut logs = String::new();
        while let Some(line) = log.next_line().await? {
            logs.push_str(&line);
            logs.push('\n');
        }
        Ok::<_, std::io::Error>(logs)
    });
    process.sigterm();
    let status = tokio::time::timeout(Duration::from_secs(15), process.child.wait()).await.unwrap().unwrap();
    assert!(status.success());

    let logs = reader.await.unwrap().unwrap();
    let lines: Vec<serde_json::Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}"))).collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request completed" && l["span"]["request_id"] == "req-telemetry-1")
        .unwrap_or_else(|| panic!("no request line in {logs}"));
    assert_eq!(request["span"]["http.route"], "/api/v1/openapi.json");
    assert_eq!(request["status"], 200);
    assert!(request["latency_ms"].is_number());
    assert!(request["span"]["latency_ms"].is_number(), "the span carries the latency too: {request}");
    assert!(!logs.contains("query-secret-value") && !logs.contains("header-secret-value"), "secrets leaked into logs");

    let mut received = Vec::new();
    while let Ok(Some(export)) = tokio::time::timeout(Duration::from_secs(5), exports.recv()).await {
        received.push(export);
        if received.iter().any(|(_, body)| contains(body, &hex(trace_id))) {
            break;
        }
    }
    assert!(received.iter().any(|(line, _)| line.starts_with("POST /v1/traces")), "{received:?}");
    assert!(
        received.iter().any(|(_, body)| contains(body, &hex(trace_id))),
        "the exported span continues the caller's trace"
    );
    for secret in ["query-secret-value", "header-secret-value"] {
        assert!(!received.iter().any(|(_, body)| contains(body, secret.as_bytes())), "{secret} leaked into a span");
    }
    assert!(received.iter().any(|(_, body)| contains(body, b"/api/v1/openapi.json")), "the span names its route");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
