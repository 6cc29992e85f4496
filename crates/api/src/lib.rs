//! The HTTP face of FreeAgentics: router, handlers (one file per resource under `routes/`),
//! extractors that turn every bad input into problem+json, the middleware stack, and OpenAPI.
#![forbid(unsafe_code)]

pub mod agents;
pub mod audit;
pub mod auth;
pub mod caches;
pub mod coalitions;
pub mod config;
pub mod cpu;
pub mod digest;
pub mod error;
pub mod extract;
pub mod frontend;
pub mod idempotency;
pub mod limits;
pub mod middleware;
pub mod observability;
pub mod openapi;
pub mod paths;
pub mod policy;
pub mod realtime;
pub mod router;
pub mod routes;
pub mod state;

pub use config::ApiConfig;
pub use error::ApiError;
pub use router::build_router;
pub use state::{App, AppState, Lifecycle};
