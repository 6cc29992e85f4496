//! Load for the WebSocket benchmarks (`benches/ws.sh` runs it against release servers):
//!
//! - `idle N`: opens N sockets subscribed to `agents` and reports the server's RSS growth per socket;
//! - `latency N EVENTS`: N subscribers (round-robin over the servers), one agent created every
//!   50 ms through the first server; publish-to-receive latency (request sent → event read) p50/p99;
//! - `throughput N SECONDS`: N subscribers, 8 writers creating agents as fast as they can; events
//!   committed per second and the slowest subscriber's delivered events per second.
//!
//! Environment: `WS_BENCH_SERVERS` (comma-separated `http://host:port`), `WS_BENCH_TOKENS`
//! (comma-separated access tokens; sockets use them round-robin), `WS_BENCH_PIDS` (the servers'
//! pids, for RSS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn list(name: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn open(server: &str, token: &str) -> Socket {
    let url = format!("{}/api/v1/ws", server.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    // small client buffers too: this process holds as many sockets as the server
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await.unwrap();
    socket.send(Message::text(json!({ "type": "subscribe", "topics": ["agents"] }).to_string())).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(text))) = socket.next().await
            && text.as_str().contains("subscribed")
        {
            return socket;
        }
    }
}

async fn open_many(n: usize, servers: &[String], tokens: &[String]) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(
            chunk.iter().map(|i| open(&servers[i % servers.len()], &tokens[i % tokens.len()])),
        )
        .await;
        sockets.extend(opened);
    }
    sockets
}

/// When each event (by agent name) reached one socket. Each socket has its own list, so the
/// measuring client does not serialise its sockets on one lock.
type Arrivals = Arc<std::sync::Mutex<Vec<(String, Instant)>>>;

/// The agent's name in an event frame, found without parsing the frame (the client shares the
/// cores with the servers: it must cost as little as it can).
fn agent_name(frame: &str) -> Option<&str> {
    let start = frame.find(r#""name":""#)? + 8;
    let end = start + frame[start..].find('"')?;
    Some(&frame[start..end])
}

/// Reads a socket, recording when each `agents` event arrived.
fn follow(mut socket: Socket, seen: Arrivals) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let at = Instant::now();
                if let Some(name) = agent_name(text.as_str()) {
                    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    seen.push((name.to_owned(), at));
                }
            }
        }
    });
}

async fn create(client: &reqwest::Client, server: &str, token: &str, name: &str) {
    let body =
        json!({ "name": name, "template": "basic-explorer", "parameters": { "width": 4, "height": 4, "horizon": 1 } });
    let response = client.post(format!("{server}/api/v1/agents")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap_or_default());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = list("WS_BENCH_SERVERS");
    let tokens = list("WS_BENCH_TOKENS");
    let pids = list("WS_BENCH_PIDS");
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let client = reqwest::Client::new();
    match args.first().map(String::as_str) {
        Some("idle") => {
            let before: u64 = pids.iter().map(|p| rss_kib(p)).sum();
            let sockets = open_many(n, &servers, &tokens).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let after: u64 = pids.iter().map(|p| rss_kib(p)).sum();
            println!(
                "idle: {} sockets, server RSS {} KiB -> {} KiB: {:.1} KiB per socket",
                sockets.len(),
                before,
                after,
                (after.saturating_sub(before)) as f64 / sockets.len() as f64
            );
        }
        Some("latency") => {
            let events: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
            let sockets = open_many(n, &servers, &tokens).await;
            let seen: Vec<Arrivals> = (0..sockets.len()).map(|_| Arrivals::default()).collect();
            for (socket, seen) in sockets.into_iter().zip(&seen) {
                follow(socket, Arc::clone(seen));
            }
            // past the window in which a new subscription holds live events for a `resume`
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut sent = HashMap::new();
            let mut answers = Vec::new();
            for i in 0..events {
                let name = format!("lat-{i}-{}", uuid::Uuid::now_v7().simple());
                let at = Instant::now();
                sent.insert(name.clone(), at);
                create(&client, &servers[0], &tokens[0], &name).await;
                answers.push(at.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answers.sort_by(f64::total_cmp);
            println!(
                "latency: the create request itself (commit included): p50 {:.1} ms, p99 {:.1} ms",
                percentile(&answers, 0.5),
                percentile(&answers, 0.99)
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
            // per server the subscribers are on: the first is where events are created
            for (index, server) in servers.iter().enumerate() {
                let mut samples: Vec<f64> = Vec::new();
                for (_, arrivals) in seen.iter().enumerate().filter(|(i, _)| i % servers.len() == index) {
                    let arrivals = arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    for (name, got) in arrivals.iter() {
                        if let Some(at) = sent.get(name) {
                            samples.push(got.duration_since(*at).as_secs_f64() * 1000.0);
                        }
                    }
                }
                samples.sort_by(f64::total_cmp);
                let subscribers = (0..n).filter(|i| i % servers.len() == index).count();
                println!(
                    "latency: {subscribers} subscribers on {server} ({}), {events} events: {} of {} deliveries, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    if index == 0 { "the replica that commits" } else { "another replica" },
                    samples.len(),
                    subscribers * events,
                    percentile(&samples, 0.5),
                    percentile(&samples, 0.99),
                    samples.last().copied().unwrap_or(0.0)
                );
            }
        }
        Some("throughput") => {
            let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
            let counts: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
            let closed = Arc::new(AtomicU64::new(0));
            for (socket, count) in open_many(n, &servers, &tokens).await.into_iter().zip(&counts) {
                follow_counting(socket, Arc::clone(count), Arc::clone(&closed));
            }
            let created = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let writers: Vec<_> = (0..8)
                .map(|w| {
                    let (client, server, token, created) =
                        (client.clone(), servers[0].clone(), tokens[0].clone(), Arc::clone(&created));
                    tokio::spawn(async move {
                        let mut i = 0;
                        while started.elapsed() < Duration::from_secs(seconds) {
                            create(&client, &server, &token, &format!("tp-{w}-{i}")).await;
                            created.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.await.unwrap();
            }
            let elapsed = started.elapsed().as_secs_f64();
            tokio::time::sleep(Duration::from_secs(3)).await;
            let created = created.load(Ordering::Relaxed);
            let slowest = counts.iter().map(|c| c.load(Ordering::Relaxed)).min().unwrap_or(0);
            let total: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            let closed = closed.load(Ordering::Relaxed);
            println!(
                "throughput: {n} subscribers, {seconds} s: {created} events committed ({:.0}/s); slowest subscriber got {slowest} ({:.0}/s); {total} frames delivered ({:.0}/s); {closed} sockets closed by the server",
                created as f64 / elapsed,
                slowest as f64 / elapsed,
                total as f64 / elapsed
            );
        }
        _ => println!("usage: ws-load idle N | latency N EVENTS | throughput N SECONDS"),
    }
}

/// Counts a socket's events; counts it in `closed` if the server closes it.
fn follow_counting(mut socket: Socket, count: Arc<AtomicU64>, closed: Arc<AtomicU64>) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Text(text) if text.as_str().starts_with(r#"{"type":"event""#) => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Message::Close(_) => {
                    closed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
}
