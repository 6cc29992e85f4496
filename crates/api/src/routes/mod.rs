//! Handlers, one file per resource.
pub mod audit_events;
pub mod auth;
pub mod health;
pub mod metrics;
pub mod users;
pub mod views;
