//! State shared between replicas — rate limits, revoked tokens, cached reads, events — behind
//! traits with a Redis implementation (production) and an in-process one (embedded profile).
#![forbid(unsafe_code)]

mod redis_pool;

pub use redis_pool::{RedisError, RedisOptions, RedisPool};
