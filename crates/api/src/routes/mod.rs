//! Handlers, one file per resource.
pub mod health;
pub mod metrics;
