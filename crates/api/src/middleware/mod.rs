//! The HTTP stack, one concern per file; `stack.rs` is the only place the order is decided.
pub mod admission;
pub mod compression;
pub mod cors;
pub mod maintenance;
pub mod normalize;
pub mod observe;
pub mod problem;
pub mod rate_limit;
pub mod security_headers;
pub mod stack;
