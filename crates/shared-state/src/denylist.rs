//! Revoked access-token ids (logout, password change). Entries expire with the token they name, so
//! the list never outgrows the tokens still alive.
use crate::RedisPool;
use crate::breaker::Breaker;
use crate::cache::Cache;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait Denylist: Send + Sync + std::fmt::Debug {
    /// Returns `false` when the revocation could not be shared with the other replicas: callers
    /// then fall back to ending the user's sessions through `tokens_valid_after`.
    async fn revoke(&self, jti: &str, ttl: Duration) -> bool;
    async fn is_revoked(&self, jti: &str) -> bool;
}

#[derive(Debug, Default)]
pub struct LocalDenylist {
    entries: Mutex<HashMap<String, Instant>>,
}

#[async_trait]
impl Denylist for LocalDenylist {
    async fn revoke(&self, jti: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, until| *until > now);
        entries.insert(jti.to_owned(), now + ttl);
        true
    }

    async fn is_revoked(&self, jti: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(jti).is_some_and(|until| *until > Instant::now())
    }
}

/// Redis for every replica, read through the cache's local layer (most requests carry a token
/// nobody revoked: the answer "not revoked" is kept locally and dropped, on every replica, when the
/// token is revoked anywhere), plus a local copy of what was revoked here: a token revoked here
/// stays revoked here even while Redis is unreachable. If Redis is down, tokens revoked on *other*
/// replicas are only caught by `tokens_valid_after` (logout-all, password change) — availability
/// over a 15-minute window.
#[derive(Debug)]
pub struct RedisDenylist {
    redis: RedisPool,
    local: LocalDenylist,
    breaker: Breaker,
    cache: Cache<bool>,
}

impl RedisDenylist {
    /// `cache` should be a local-only cache ([`Cache::local`]): Redis is the source here.
    pub fn new(redis: RedisPool, cache: Cache<bool>) -> Self {
        Self { redis, local: LocalDenylist::default(), breaker: Breaker::new(Duration::from_secs(1)), cache }
    }

    /// Asks Redis; `Err` when it cannot answer (then nothing is cached).
    async fn lookup(&self, jti: &str) -> Result<bool, ()> {
        if self.breaker.is_open() {
            return Err(());
        }
        match self.redis.query::<bool>(deadpool_redis::redis::cmd("EXISTS").arg(self.key(jti))).await {
            Ok(revoked) => {
                self.breaker.record_success();
                Ok(revoked)
            }
            Err(e) => {
                self.breaker.record_failure();
                metrics::counter!("freeagentics_redis_errors_total").increment(1);
                tracing::warn!(error = %e, "denylist lookup failed; relying on the local copy");
                Err(())
            }
        }
    }

    fn key(&self, jti: &str) -> String {
        self.redis.key(&format!("deny:{jti}"))
    }
}

#[async_trait]
impl Denylist for RedisDenylist {
    async fn revoke(&self, jti: &str, ttl: Duration) -> bool {
        self.local.revoke(jti, ttl).await;
        let seconds = ttl.as_secs().max(1);
        let cmd = deadpool_redis::redis::cmd("SET").arg(self.key(jti)).arg(1).arg("EX").arg(seconds).to_owned();
        match self.redis.query::<()>(&cmd).await {
            Ok(()) => {
                self.breaker.record_success();
                self.cache.invalidate(jti).await;
                true
            }
            Err(e) => {
                self.breaker.record_failure();
                metrics::counter!("freeagentics_redis_errors_total").increment(1);
                tracing::warn!(error = %e, "could not record a revoked token in redis");
                false
            }
        }
    }

    async fn is_revoked(&self, jti: &str) -> bool {
        if self.local.is_revoked(jti).await {
            return true;
        }
        self.cache.get_or_load(jti, || self.lookup(jti)).await.is_ok_and(|revoked| *revoked)
    }
}
