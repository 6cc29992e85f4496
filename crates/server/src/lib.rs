//! Wiring: configuration, telemetry, the command line, start-up and graceful shutdown.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod memory;
pub mod realtime;
pub mod security;
pub mod serve;
pub mod shutdown;
pub mod telemetry;

pub use app::Application;
pub use config::{Config, ConfigError, Environment};
