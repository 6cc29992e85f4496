//! The baseline for `benches/load.sh`: a bare axum JSON handler with no middleware, answering the
//! same body as `GET /health`. The ratio of the service's throughput to this one is the cost of
//! the whole stack (request id, tracing, metrics, CORS, security headers, compression, problem
//! rendering, maintenance, rate limiting, timeouts).
// A benchmark fixture, not service code: failing fast is the right behaviour here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use axum::{Json, Router, routing::get};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // the service's memory policy, so that the two differ only in what the stack does
    freeagentics_server::memory::disable_transparent_huge_pages().unwrap();
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:18001".to_owned());
    let app = Router::new().route(
        "/health",
        get(|| async { Json(serde_json::json!({"status": "ok", "service": "freeagentics", "version": "0.1.0"})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("bare axum listening on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
