//! The Redis backend of the two-level cache. Shared copies are plain keys with a TTL; an
//! invalidation replaces the key with a short-lived tombstone and publishes the key on one pub/sub
//! channel that every replica subscribes to.
//!
//! The channel is trusted only while it demonstrably works: each replica publishes a heartbeat every
//! [`HEARTBEAT`] and hears its own; without one for [`TRUST_WINDOW`] the local layers are bypassed.
//! When the channel works again, every local copy is dropped (invalidations sent meanwhile were
//! lost: pub/sub is at-most-once). So no replica serves a local copy more than about a second after
//! the key changed, whatever happened to Redis in between.
//!
//! Shared copies live under a generation number kept in Redis. An invalidation that could not be
//! delivered (Redis unreachable from the writer) may leave a stale shared copy behind, so after any
//! outage the first replica back bumps the generation: every shared copy of before is orphaned
//! (and expires with its TTL) and is loaded again from the source.
use super::backend::{CacheBackend, CacheError, Epochs, Shared};
use crate::RedisPool;
use crate::breaker::Breaker;
use async_trait::async_trait;
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// How often each replica proves the channel works.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// How long without hearing our own heartbeat before local copies stop being used.
pub const TRUST_WINDOW: Duration = Duration::from_millis(750);
/// How long an invalidated key refuses new shared copies: longer than a load from the database
/// takes, so a load that read the old row cannot publish it after the write.
const TOMBSTONE_TTL: Duration = Duration::from_secs(5);
const TOMBSTONE: &[u8] = b"\x00invalidated";
/// Wait before reconnecting the subscriber after a failure.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);

/// One round trip for an invalidation: the tombstone and the announcement.
const INVALIDATE_SCRIPT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('PUBLISH', KEYS[2], ARGV[3])
";

#[derive(Debug)]
pub struct RedisCacheBackend {
    redis: RedisPool,
    epochs: Epochs,
    channel: String,
    replica: String,
    started: Instant,
    /// Milliseconds since `started` when we last heard our own heartbeat; 0 = never.
    heard_at: AtomicU64,
    subscribed: AtomicBool,
    /// The shared copies' generation (`cache:generation` in Redis).
    generation: AtomicU64,
    /// An invalidation was lost or the channel broke: bump the generation once Redis is back.
    flush_shared: AtomicBool,
    breaker: Breaker,
    script: deadpool_redis::redis::Script,
}

impl RedisCacheBackend {
    /// The backend; call [`RedisCacheBackend::run`] on a task to hear invalidations.
    pub fn new(redis: RedisPool) -> Arc<Self> {
        let channel = redis.key("cache:invalidations");
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Arc::new(RedisCacheBackend {
            redis,
            epochs: Epochs::default(),
            channel,
            replica: format!("{}-{nanos}", std::process::id()),
            started: Instant::now(),
            heard_at: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            flush_shared: AtomicBool::new(false),
            breaker: Breaker::new(Duration::from_secs(1)),
            script: deadpool_redis::redis::Script::new(INVALIDATE_SCRIPT),
        })
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(&format!("cache:{}:{key}", self.generation.load(Ordering::Acquire)))
    }

    /// Reads the shared generation, first bumping it if an outage may have lost invalidations.
    async fn settle_generation(&self) -> Result<(), CacheError> {
        let key = self.redis.key("cache:generation");
        let generation: u64 = if self.flush_shared.load(Ordering::Acquire) {
            let bumped = self.redis.query(deadpool_redis::redis::cmd("INCR").arg(&key)).await;
            let bumped = bumped.map_err(|e| CacheError(e.to_string()))?;
            tracing::info!(generation = bumped, "shared cache copies from before the outage discarded");
            let announce =
                deadpool_redis::redis::cmd("PUBLISH").arg(&self.channel).arg(format!("g:{bumped}")).to_owned();
            let _ = self.redis.query::<i64>(&announce).await;
            self.flush_shared.store(false, Ordering::Release);
            bumped
        } else {
            let current: Option<u64> = self
                .redis
                .query(deadpool_redis::redis::cmd("GET").arg(&key))
                .await
                .map_err(|e| CacheError(e.to_string()))?;
            current.unwrap_or(0)
        };
        self.generation.fetch_max(generation, Ordering::AcqRel);
        Ok(())
    }

    fn elapsed_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    fn failed(&self, error: impl std::fmt::Display) -> CacheError {
        self.breaker.record_failure();
        metrics::counter!("freeagentics_redis_errors_total").increment(1);
        CacheError(error.to_string())
    }

    /// Subscribes (and resubscribes after any failure) and publishes heartbeats, until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let heartbeats = tokio::spawn(Arc::clone(&self).heartbeats(cancel.clone()));
        loop {
            if cancel.is_cancelled() {
                break;
            }
            if let Err(error) = self.listen(&cancel).await {
                tracing::warn!(error = %error, "cache invalidation channel lost; local cache layers bypassed");
            }
            if self.subscribed.swap(false, Ordering::AcqRel) {
                self.flush_shared.store(true, Ordering::Release);
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
        heartbeats.abort();
    }

    async fn listen(&self, cancel: &CancellationToken) -> Result<(), CacheError> {
        let mut pubsub = self.redis.subscriber().await.map_err(|e| CacheError(e.to_string()))?;
        pubsub.subscribe(&self.channel).await.map_err(|e| CacheError(e.to_string()))?;
        self.settle_generation().await?;
        // whatever was published before this moment was not heard: no local copy is good now
        self.epochs.invalidate_all();
        self.subscribed.store(true, Ordering::Release);
        tracing::info!("cache invalidation channel subscribed");
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                message = messages.next() => message,
            };
            let Some(message) = message else { return Err(CacheError("subscription ended".to_owned())) };
            let Ok(payload) = message.get_payload::<String>() else { continue };
            self.hear(&payload);
        }
    }

    fn hear(&self, payload: &str) {
        let mut parts = payload.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("i"), Some(sent), Some(key)) => {
                // `{ms}.{replica}`; a replica of before the suffix sends `{ms}` and ignores it
                let (sent_ms, sender) = sent.split_once('.').unwrap_or((sent, ""));
                // this replica's own invalidations took effect when they were sent; bumping again
                // would drop the copies it kept since (an agent's state after its own step)
                if sender != self.replica {
                    self.epochs.invalidate(key);
                }
                if let Ok(sent_ms) = sent_ms.parse::<u128>() {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
                    let lag = now.saturating_sub(sent_ms) as f64 / 1000.0;
                    metrics::histogram!("freeagentics_cache_invalidation_lag_seconds").record(lag);
                }
            }
            (Some("g"), Some(generation), None) => {
                if let Ok(generation) = generation.parse::<u64>() {
                    self.generation.fetch_max(generation, Ordering::AcqRel);
                    self.epochs.invalidate_all();
                }
            }
            (Some("h"), Some(replica), _) if replica == self.replica => {
                let now = self.elapsed_ms();
                let previous = self.heard_at.swap(now, Ordering::AcqRel);
                // heard again after a silence: invalidations of the silence may be lost
                if previous == 0 || now.saturating_sub(previous) > TRUST_WINDOW.as_millis() as u64 {
                    self.epochs.invalidate_all();
                }
            }
            _ => {}
        }
    }

    async fn heartbeats(self: Arc<Self>, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let message = format!("h:{}:", self.replica);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {
                    let publish = deadpool_redis::redis::cmd("PUBLISH").arg(&self.channel).arg(&message).to_owned();
                    let _ = self.redis.query::<i64>(&publish).await;
                }
            }
        }
    }
}

#[async_trait]
impl CacheBackend for RedisCacheBackend {
    async fn get(&self, key: &str) -> Result<Shared, CacheError> {
        if self.breaker.is_open() {
            return Err(CacheError("redis recently failed".to_owned()));
        }
        let value: Option<Vec<u8>> =
            self.redis.query(deadpool_redis::redis::cmd("GET").arg(self.key(key))).await.map_err(|e| self.failed(e))?;
        self.breaker.record_success();
        Ok(match value {
            None => Shared::Missing,
            Some(value) if value == TOMBSTONE => Shared::Invalidated,
            Some(value) => Shared::Value(value),
        })
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        if self.breaker.is_open() {
            return Err(CacheError("redis recently failed".to_owned()));
        }
        let command = deadpool_redis::redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .to_owned();
        self.redis.query::<Option<String>>(&command).await.map_err(|e| self.failed(e))?;
        Ok(())
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        // this replica at once, whatever Redis does
        self.epochs.invalidate(key);
        let sent = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.key(key))
            .key(&self.channel)
            .arg(TOMBSTONE)
            .arg(TOMBSTONE_TTL.as_millis() as u64)
            .arg(format!("i:{sent}.{}:{key}", self.replica));
        if let Err(error) = self.redis.invoke::<i64>(&invocation).await {
            self.flush_shared.store(true, Ordering::Release);
            return Err(self.failed(error));
        }
        Ok(())
    }

    fn local_layer_trusted(&self) -> bool {
        let heard = self.heard_at.load(Ordering::Acquire);
        self.subscribed.load(Ordering::Acquire)
            && heard != 0
            && self.elapsed_ms().saturating_sub(heard) <= TRUST_WINDOW.as_millis() as u64
    }

    fn epochs(&self) -> &Epochs {
        &self.epochs
    }

    fn is_shared(&self) -> bool {
        true
    }
}
