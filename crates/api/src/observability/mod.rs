//! Metric definitions and the Prometheus recorder.
pub mod process;
pub mod registry;
