//! Handlers, one file per resource.
pub mod agent_steps;
pub mod agents;
pub mod audit_events;
pub mod auth;
pub mod coalition_formation;
pub mod coalition_members;
pub mod coalition_objectives;
pub mod coalitions;
pub mod frontend;
pub mod health;
pub mod inference;
pub mod metrics;
pub mod users;
pub mod views;
pub mod ws;
