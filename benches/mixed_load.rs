//! Open-loop load for `benches/production.sh`: requests are *scheduled* at a fixed rate and each
//! one's latency is measured from its scheduled time, so a slow server cannot slow the load down
//! and hide its own queueing (wrk's closed loop does exactly that: coordinated omission).
//!
//! The mix is reads (`GET /api/v1/agents/{id}`), writes (`POST /api/v1/agents`) and steps
//! (`POST /api/v1/agents/{id}/step`), interleaved deterministically. Steps go round-robin over the
//! agents so two steps rarely meet on one agent; a 409 from such a meeting counts as an error.
//!
//! Configured by environment: `BASE` (http://host:port), `TOKEN`, `AGENTS_FILE` (one active agent
//! id per line), `RATE` (requests/s, 1000), `DURATION_SECS` (20), `MIX` (read,write,step percent:
//! "70,10,20"), `AGENT_BODY` (the JSON body of a write). Prints one line per kind and one for all:
//! `kind requests non_2xx p50_ms p99_ms max_ms`, then `achieved <requests/s>`. With `TRACE` (a file
//! path) it also writes one line per request, `scheduled_ms kind latency_ms ok`, to find when the
//! slow ones were sent.
// A benchmark tool, not service code: failing fast is the right behaviour here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Step,
}

const KINDS: [(Kind, &str); 3] = [(Kind::Read, "read"), (Kind::Write, "write"), (Kind::Step, "step")];

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Which kind request `i` is: spreads each kind evenly over every 100 requests (37 is coprime with
/// 100, so `i·37 mod 100` visits every slot once per 100 requests, in a scattered order).
fn kind_of(i: u64, read: u64, write: u64) -> Kind {
    let slot = (i * 37) % 100;
    if slot < read {
        Kind::Read
    } else if slot < read + write {
        Kind::Write
    } else {
        Kind::Step
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn report(name: &str, samples: &mut [(Duration, bool)]) {
    let mut latencies: Vec<Duration> = samples.iter().map(|(latency, _)| *latency).collect();
    latencies.sort();
    let errors = samples.iter().filter(|(_, ok)| !ok).count();
    println!(
        "{name} {} {errors} {:.2} {:.2} {:.2}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let base = var("BASE", "http://127.0.0.1:18102");
    let token = var("TOKEN", "");
    let ids: Vec<String> = std::fs::read_to_string(var("AGENTS_FILE", "agents.txt"))
        .expect("AGENTS_FILE")
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!ids.is_empty(), "AGENTS_FILE lists no agents");
    let rate: f64 = var("RATE", "1000").parse().expect("RATE");
    let duration: f64 = var("DURATION_SECS", "20").parse().expect("DURATION_SECS");
    let mix: Vec<u64> = var("MIX", "70,10,20").split(',').map(|part| part.trim().parse().expect("MIX")).collect();
    assert!(mix.len() == 3 && mix.iter().sum::<u64>() == 100, "MIX is three percentages adding up to 100");
    let agent_body = var(
        "AGENT_BODY",
        r#"{"name":"mixed","template":"basic-explorer","parameters":{"width":20,"height":20,"horizon":3}}"#,
    );

    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("client");
    let total = (rate * duration) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Kind, Duration, Duration, bool)>();
    let start = Instant::now();
    let mut steps = 0usize;
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let kind = kind_of(i, mix[0], mix[1]);
        let request = match kind {
            Kind::Read => client.get(format!("{base}/api/v1/agents/{}", ids[(i as usize * 7919) % ids.len()])),
            Kind::Write => client
                .post(format!("{base}/api/v1/agents"))
                .header("content-type", "application/json")
                .body(agent_body.clone()),
            Kind::Step => {
                steps += 1;
                client
                    .post(format!("{base}/api/v1/agents/{}/step", ids[steps % ids.len()]))
                    .header("content-type", "application/json")
                    .body(r#"{"observation":[0]}"#)
            }
        };
        let request = request.bearer_auth(&token);
        let tx = tx.clone();
        tokio::spawn(async move {
            let ok = match request.send().await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    // The body is part of the answer: a latency without it would flatter the server.
                    ok && response.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            let _ = tx.send((kind, scheduled - start, scheduled.elapsed(), ok));
        });
    }
    drop(tx);
    let mut by_kind: Vec<Vec<(Duration, bool)>> = vec![Vec::new(); KINDS.len()];
    let mut trace = std::env::var("TRACE").ok().map(|path| std::fs::File::create(path).expect("TRACE"));
    while let Some((kind, at, latency, ok)) = rx.recv().await {
        let index = KINDS.iter().position(|(k, _)| *k == kind).unwrap_or(0);
        by_kind[index].push((latency, ok));
        if let Some(file) = trace.as_mut() {
            use std::io::Write as _;
            let (at, latency) = (at.as_secs_f64() * 1000.0, latency.as_secs_f64() * 1000.0);
            writeln!(file, "{at:.1} {} {latency:.2} {ok}", KINDS[index].1).expect("TRACE");
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut all: Vec<(Duration, bool)> = by_kind.iter().flatten().copied().collect();
    for ((_, name), samples) in KINDS.iter().zip(by_kind.iter_mut()) {
        report(name, samples);
    }
    report("all", &mut all);
    println!("achieved {:.0}", all.len() as f64 / elapsed);
}
