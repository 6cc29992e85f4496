//! State shared between replicas — rate limits, revoked tokens, cached reads, events — behind
//! traits with a Redis implementation (production) and an in-process one (embedded profile).
#![forbid(unsafe_code)]

mod breaker;
pub mod cache;
mod denylist;
pub mod events;
mod rate_limit;
mod redis_manager;
mod redis_pool;
mod tickets;

pub use cache::{Cache, CacheBackend, CacheSettings, LocalCacheBackend, RedisCacheBackend};
pub use denylist::{Denylist, LocalDenylist, RedisDenylist};
pub use events::{Batch, BusEvent, EventBus, LocalEventBus, RedisEventBus, Replay};
pub use rate_limit::{Decision, LimiterBackend, LocalRateLimiter, Quota, RateLimiter, RedisRateLimiter};
pub use redis_pool::{RedisConnection, RedisError, RedisOptions, RedisPool, SentinelOptions};
pub use tickets::{LocalTicketStore, RedisTicketStore, TicketStore};
