//! Rate limiting with GCRA (generic cell rate algorithm): one timestamp per key — the theoretical
//! arrival time (TAT) — instead of counters, so a limit is exact, cheap and needs no cleanup job.
//!
//! The Redis implementation runs the whole decision in one Lua script with Redis' own clock, so
//! every replica shares one limit and clock skew between pods cannot matter. When Redis fails, the
//! fallback limiter answers from the in-process one within the same request.
use crate::RedisPool;
use crate::breaker::Breaker;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the Redis limiter answers from the in-process one after a Redis failure before
/// trying Redis again.
const FALLBACK_COOLDOWN: Duration = Duration::from_secs(1);

/// `burst` requests at once, refilling at `burst` per `period`: "N per period" with N = burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per(burst: u32, period: Duration) -> Self {
        Quota { burst: burst.max(1), period }
    }

    /// Time between two requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.period / self.burst
    }

    fn capacity(&self) -> Duration {
        self.interval() * self.burst
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset_after: Duration,
    /// When denied: until the next request would be allowed.
    pub retry_after: Duration,
}

/// Which implementation answered, for metrics (`backend` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimiterBackend {
    Redis,
    Local,
}

impl LimiterBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            LimiterBackend::Redis => "redis",
            LimiterBackend::Local => "local",
        }
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Spends one request of `quota` under `key`, if allowed.
    async fn hit(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend);
    /// Whether a request would be allowed, spending nothing.
    async fn peek(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend);
    /// Forgets `key` (a successful login clears its failure budget).
    async fn reset(&self, key: &str);
    /// Gives back one request of `quota` spent under `key`.
    async fn refund(&self, key: &str, quota: Quota);
}

/// The GCRA step shared by both implementations; times are microseconds on one clock.
fn decide(tat: u64, now: u64, quota: Quota, consume: bool) -> (Decision, Option<u64>) {
    let interval = quota.interval().as_micros() as u64;
    let capacity = quota.capacity().as_micros() as u64;
    let tat = tat.max(now);
    let new_tat = tat + interval;
    let diff = new_tat - now;
    if diff > capacity {
        let decision = Decision {
            allowed: false,
            limit: quota.burst,
            remaining: 0,
            reset_after: Duration::from_micros(tat - now),
            retry_after: Duration::from_micros(diff - capacity),
        };
        return (decision, None);
    }
    let (used_tat, stored) = if consume { (new_tat, Some(new_tat)) } else { (tat, None) };
    let used = used_tat - now;
    let remaining =
        (capacity - used).checked_div(interval).map_or(quota.burst, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let decision = Decision {
        allowed: true,
        limit: quota.burst,
        remaining,
        reset_after: Duration::from_micros(used),
        retry_after: Duration::ZERO,
    };
    (decision, stored)
}

/// In-process limiter: the embedded profile's, and the fallback while Redis is down.
#[derive(Debug)]
pub struct LocalRateLimiter {
    epoch: Instant,
    tats: Mutex<HashMap<String, u64>>,
    /// Keys whose TAT is in the past carry no information; prune when the map grows past this.
    prune_at: AtomicUsize,
}

const PRUNE_FLOOR: usize = 10_000;

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self { epoch: Instant::now(), tats: Mutex::new(HashMap::new()), prune_at: AtomicUsize::new(PRUNE_FLOOR) }
    }
}

impl LocalRateLimiter {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn run(&self, key: &str, quota: Quota, consume: bool) -> Decision {
        let now = self.now();
        let mut tats = self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if tats.len() > self.prune_at.load(Ordering::Relaxed) {
            tats.retain(|_, tat| *tat > now);
            // keys still live after pruning stay; scan again only when the map doubles, so a
            // large live set does not turn every call into a full scan
            self.prune_at.store((tats.len() * 2).max(PRUNE_FLOOR), Ordering::Relaxed);
        }
        let tat = tats.get(key).copied().unwrap_or(now);
        let (decision, stored) = decide(tat, now, quota, consume);
        if let Some(new_tat) = stored {
            tats.insert(key.to_owned(), new_tat);
        }
        decision
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend) {
        (self.run(key, quota, true), LimiterBackend::Local)
    }

    async fn peek(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend) {
        (self.run(key, quota, false), LimiterBackend::Local)
    }

    async fn reset(&self, key: &str) {
        self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }

    async fn refund(&self, key: &str, quota: Quota) {
        let now = self.now();
        let interval = quota.interval().as_micros() as u64;
        let mut tats = self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tat) = tats.get_mut(key) {
            *tat = tat.saturating_sub(interval).max(now);
        }
    }
}

/// KEYS[1] = key; ARGV = interval µs, capacity µs, consume (1/0).
/// Returns {allowed, remaining, reset_after µs, retry_after µs}.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local diff = new_tat - now
if diff > capacity then
  return {0, 0, tat - now, diff - capacity}
end
local used = tat - now
if ARGV[3] == '1' then
  used = diff
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(diff / 1000) + 1)
end
local remaining = 0
if interval > 0 then remaining = math.floor((capacity - used) / interval) end
return {1, remaining, used, 0}
";

/// KEYS[1] = key; ARGV[1] = interval µs. Moves the TAT back by one interval (not before now).
const REFUND_SCRIPT: &str = r"
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new_tat = tat - tonumber(ARGV[1])
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
end
return 1
";

/// Redis-backed limiter with the in-process one as fallback.
#[derive(Debug)]
pub struct RedisRateLimiter {
    redis: RedisPool,
    gcra: deadpool_redis::redis::Script,
    refund: deadpool_redis::redis::Script,
    local: LocalRateLimiter,
    breaker: Breaker,
    degraded: AtomicBool,
}

impl RedisRateLimiter {
    pub fn new(redis: RedisPool) -> Self {
        Self {
            breaker: Breaker::new(FALLBACK_COOLDOWN),
            redis,
            gcra: deadpool_redis::redis::Script::new(GCRA_SCRIPT),
            refund: deadpool_redis::redis::Script::new(REFUND_SCRIPT),
            local: LocalRateLimiter::default(),
            degraded: AtomicBool::new(false),
        }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(&format!("rl:{key}"))
    }

    /// Runs a script under the pool timeout; `None` (and the breaker opened) on any failure.
    async fn invoke<T: deadpool_redis::redis::FromRedisValue>(
        &self,
        script: &deadpool_redis::redis::Script,
        key: &str,
        args: &[u64],
    ) -> Option<T> {
        if self.breaker.is_open() {
            return None;
        }
        let mut invocation = script.key(self.key(key));
        for arg in args {
            invocation.arg(*arg);
        }
        match self.redis.invoke::<T>(&invocation).await {
            Ok(value) => {
                self.breaker.record_success();
                self.set_degraded(false, "");
                Some(value)
            }
            Err(e) => {
                let reason = e.to_string();
                self.breaker.record_failure();
                self.set_degraded(true, &reason);
                metrics::counter!("freeagentics_redis_errors_total").increment(1);
                None
            }
        }
    }

    async fn run(&self, key: &str, quota: Quota, consume: bool) -> (Decision, LimiterBackend) {
        let args = [quota.interval().as_micros() as u64, quota.capacity().as_micros() as u64, u64::from(consume)];
        match self.invoke::<(u8, u64, u64, u64)>(&self.gcra, key, &args).await {
            Some((allowed, remaining, reset, retry)) => {
                let decision = Decision {
                    allowed: allowed == 1,
                    limit: quota.burst,
                    remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                    reset_after: Duration::from_micros(reset),
                    retry_after: Duration::from_micros(retry),
                };
                (decision, LimiterBackend::Redis)
            }
            None => (self.local.run(key, quota, consume), LimiterBackend::Local),
        }
    }

    fn set_degraded(&self, degraded: bool, reason: &str) {
        if self.degraded.swap(degraded, Ordering::Relaxed) != degraded {
            metrics::gauge!("freeagentics_rate_limit_fallback_active").set(if degraded { 1.0 } else { 0.0 });
            if degraded {
                tracing::warn!(error = %reason, "redis rate limiter unavailable: using the in-process limiter");
            } else {
                tracing::info!("redis rate limiter recovered");
            }
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend) {
        self.run(key, quota, true).await
    }

    async fn peek(&self, key: &str, quota: Quota) -> (Decision, LimiterBackend) {
        self.run(key, quota, false).await
    }

    async fn reset(&self, key: &str) {
        self.local.reset(key).await;
        if !self.breaker.is_open() {
            let del = deadpool_redis::redis::cmd("DEL").arg(self.key(key)).to_owned();
            if self.redis.query::<i64>(&del).await.is_err() {
                self.breaker.record_failure();
            }
        }
    }

    async fn refund(&self, key: &str, quota: Quota) {
        self.local.refund(key, quota).await;
        let _ = self.invoke::<i64>(&self.refund, key, &[quota.interval().as_micros() as u64]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let quota = Quota::per(5, Duration::from_secs(60));
        let mut tat = 0;
        let now = 1_000_000_000;
        for expected_remaining in (0..5).rev() {
            let (decision, stored) = decide(tat, now, quota, true);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = stored.unwrap();
        }
        let (denied, stored) = decide(tat, now, quota, true);
        assert!(!denied.allowed);
        assert!(stored.is_none());
        assert_eq!(denied.retry_after, Duration::from_secs(12));
        // one interval later exactly one more request fits
        let later = now + 12_000_000;
        let (decision, stored) = decide(tat, later, quota, true);
        assert!(decision.allowed);
        assert!(!decide(stored.unwrap(), later, quota, true).0.allowed);
    }

    #[test]
    fn peek_spends_nothing() {
        let quota = Quota::per(1, Duration::from_secs(1));
        let (peeked, stored) = decide(0, 10, quota, false);
        assert!(peeked.allowed);
        assert!(stored.is_none());
    }

    #[tokio::test]
    async fn local_limiter_limits_per_key() {
        let limiter = LocalRateLimiter::default();
        let quota = Quota::per(2, Duration::from_secs(60));
        assert!(limiter.hit("a", quota).await.0.allowed);
        assert!(limiter.hit("a", quota).await.0.allowed);
        assert!(!limiter.hit("a", quota).await.0.allowed);
        assert!(limiter.hit("b", quota).await.0.allowed, "keys are independent");
        limiter.reset("a").await;
        assert!(limiter.hit("a", quota).await.0.allowed);
    }
}
