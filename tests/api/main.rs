//! End-to-end tests of the whole service over real sockets. One test binary (one link) with a
//! module per area; `helpers` holds `TestApp`.
// Tests assert by unwrapping and report skips on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
#[allow(dead_code)] // helpers serve later modules too
mod helpers;

mod agents;
mod auth;
mod authz;
mod cache;
mod cli;
mod coalitions;
mod connections;
mod deploy;
mod errors;
mod failover;
mod frontend;
mod health;
mod inference;
mod jwt;
mod lifecycle;
mod memory;
mod metrics;
mod openapi;
mod rate_limit;
mod telemetry;
mod users;
mod ws;
mod ws_client;
mod ws_replicas;
