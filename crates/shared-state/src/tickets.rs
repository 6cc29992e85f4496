//! Single-use values with a short life: WebSocket tickets (a browser cannot set `Authorization` on
//! an upgrade, so it trades its token for a ticket it may put in the URL). Taking one removes it,
//! atomically, so it can be used once on whichever replica the connection lands.
use crate::RedisPool;
use crate::breaker::Breaker;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait TicketStore: Send + Sync + std::fmt::Debug {
    /// Keeps `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: &str, ttl: Duration);
    /// Removes and returns the value, if it is there and not expired.
    async fn take(&self, key: &str) -> Option<String>;
}

/// Bounded, so a flood of ticket requests (each within its rate limit) cannot grow memory without
/// limit: expired entries are swept first, then the oldest go.
const LOCAL_MAX_TICKETS: usize = 100_000;

#[derive(Debug, Default)]
pub struct LocalTicketStore {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

#[async_trait]
impl TicketStore for LocalTicketStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= LOCAL_MAX_TICKETS {
            entries.retain(|_, (_, until)| *until > now);
        }
        if entries.len() >= LOCAL_MAX_TICKETS
            && let Some(oldest) = entries.iter().min_by_key(|(_, (_, until))| *until).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key.to_owned(), (value.to_owned(), now + ttl));
    }

    async fn take(&self, key: &str) -> Option<String> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(key).filter(|(_, until)| *until > Instant::now()).map(|(value, _)| value)
    }
}

/// In Redis for every replica; while Redis is unreachable, tickets are issued and redeemed in
/// process (usable only on the replica that issued them).
#[derive(Debug)]
pub struct RedisTicketStore {
    redis: RedisPool,
    local: LocalTicketStore,
    breaker: Breaker,
}

impl RedisTicketStore {
    pub fn new(redis: RedisPool) -> Self {
        Self { redis, local: LocalTicketStore::default(), breaker: Breaker::new(Duration::from_secs(1)) }
    }

    fn failed(&self, error: &crate::RedisError) {
        self.breaker.record_failure();
        metrics::counter!("freeagentics_redis_errors_total").increment(1);
        tracing::warn!(%error, "ticket store: Redis unavailable, using the in-process store");
    }
}

#[async_trait]
impl TicketStore for RedisTicketStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) {
        if !self.breaker.is_open() {
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let set = deadpool_redis::redis::cmd("SET")
                .arg(self.redis.key(&format!("ticket:{key}")))
                .arg(value)
                .arg("PX")
                .arg(millis)
                .to_owned();
            match self.redis.query::<()>(&set).await {
                Ok(()) => return self.breaker.record_success(),
                Err(error) => self.failed(&error),
            }
        }
        self.local.put(key, value, ttl).await;
    }

    async fn take(&self, key: &str) -> Option<String> {
        if let Some(value) = self.local.take(key).await {
            return Some(value);
        }
        if self.breaker.is_open() {
            return None;
        }
        let get = deadpool_redis::redis::cmd("GETDEL").arg(self.redis.key(&format!("ticket:{key}"))).to_owned();
        match self.redis.query::<Option<String>>(&get).await {
            Ok(value) => value,
            Err(error) => {
                self.failed(&error);
                None
            }
        }
    }
}
