//! A two-level cache for hot reads: a bounded in-process layer (moka: size limit by weight, TTL)
//! in front of a shared layer (Redis, through [`CacheBackend`]) in front of the source (the store,
//! or Redis itself for the token denylist), with one typed API for every cached value.
//!
//! - A cache failure is a miss, never an error: the value is loaded from the source.
//! - Concurrent misses of one key load it once (moka coalesces them).
//! - Every write that changes a cached value calls [`Cache::invalidate`]: at once on this replica,
//!   within about a second on the others (the backend's invalidation channel); while that channel
//!   is down, the local layer is bypassed, and when it is back every local copy is dropped.
//! - A copy loaded while its key was invalidated is never used: copies carry the validity stamp
//!   they were loaded under ([`backend::Epochs`]).
mod backend;
mod redis;

pub use backend::{CacheBackend, CacheError, Epochs, LocalCacheBackend, Shared, Stamp};
pub use redis::{HEARTBEAT, RedisCacheBackend, TRUST_WINDOW};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How a cache behaves; from configuration.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `false`: every read goes to the source (benchmarks compare with and without).
    pub enabled: bool,
    /// Lifetime of a local copy (invalidation normally ends it sooner).
    pub local_ttl: Duration,
    /// Lifetime of a shared copy.
    pub shared_ttl: Duration,
    /// Bound on the local layer, in bytes of serialised values.
    pub local_max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            local_ttl: Duration::from_secs(60),
            shared_ttl: Duration::from_secs(300),
            local_max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Where a read was answered, for `freeagentics_cache_requests_total{cache,result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    HitLocal,
    HitRedis,
    Miss,
    Error,
    Bypass,
}

impl Outcome {
    pub const ALL: [Outcome; 5] =
        [Outcome::HitLocal, Outcome::HitRedis, Outcome::Miss, Outcome::Error, Outcome::Bypass];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::HitLocal => "hit_local",
            Outcome::HitRedis => "hit_redis",
            Outcome::Miss => "miss",
            Outcome::Error => "error",
            Outcome::Bypass => "bypass",
        }
    }
}

struct Copy<T> {
    value: Arc<T>,
    stamp: Stamp,
    weight: u32,
}

// by hand: the derive would demand `T: Clone`, and copies share their value
impl<T> Clone for Copy<T> {
    fn clone(&self) -> Self {
        Copy { value: Arc::clone(&self.value), stamp: self.stamp, weight: self.weight }
    }
}

/// One cached kind of value (`name` is the metric label and the key namespace). Cheap to clone.
pub struct Cache<T> {
    name: &'static str,
    local: moka::future::Cache<String, Copy<T>>,
    backend: Arc<dyn CacheBackend>,
    settings: CacheSettings,
    /// Whether copies go to the shared layer (the denylist's source is Redis itself: no).
    shared: bool,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache {
            name: self.name,
            local: self.local.clone(),
            backend: Arc::clone(&self.backend),
            settings: self.settings.clone(),
            shared: self.shared,
        }
    }
}

impl<T> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("name", &self.name).field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<T> Cache<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A cache whose copies are also shared between replicas.
    pub fn shared(name: &'static str, backend: Arc<dyn CacheBackend>, settings: CacheSettings) -> Self {
        Self::build(name, backend, settings, true)
    }

    /// A cache with only the local layer in front of a source every replica shares (Redis).
    pub fn local(name: &'static str, backend: Arc<dyn CacheBackend>, settings: CacheSettings) -> Self {
        Self::build(name, backend, settings, false)
    }

    fn build(name: &'static str, backend: Arc<dyn CacheBackend>, settings: CacheSettings, shared: bool) -> Self {
        let local = moka::future::Cache::builder()
            .max_capacity(settings.local_max_bytes)
            .weigher(|key: &String, copy: &Copy<T>| copy.weight.saturating_add(key.len() as u32))
            .time_to_live(settings.local_ttl)
            .build();
        let shared = shared && backend.is_shared();
        Cache { name, local, backend, settings, shared }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }

    fn count(&self, outcome: Outcome) {
        metrics::counter!("freeagentics_cache_requests_total", "cache" => self.name, "result" => outcome.as_str())
            .increment(1);
    }

    /// The value of `key`: the local copy, else the shared one, else `load()` (which is then
    /// shared). Concurrent misses of one key run `load` once; all of them get its result.
    pub async fn get_or_load<E, F, Fut>(&self, key: &str, load: F) -> Result<Arc<T>, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.key(key);
        if !self.settings.enabled {
            self.count(Outcome::Bypass);
            return load().await.map(Arc::new).map_err(Arc::new);
        }
        if !self.backend.local_layer_trusted() {
            // the shared copies are still good: an invalidation replaces them in Redis itself
            self.count(Outcome::Bypass);
            return self.load_through(&key, load).await.map(|(value, _)| Arc::new(value)).map_err(Arc::new);
        }
        let epochs = self.backend.epochs();
        let stamp = epochs.stamp(&key);
        if let Some(copy) = self.local.get(&key).await {
            if copy.stamp == stamp {
                self.count(Outcome::HitLocal);
                return Ok(copy.value);
            }
            self.local.invalidate(&key).await;
        }
        let copy = self
            .local
            .try_get_with_by_ref(&key, async {
                // stamped before loading: an invalidation during the load makes the copy stale
                let stamp = epochs.stamp(&key);
                let (value, weight) = self.load_through(&key, load).await?;
                Ok::<_, E>(Copy { value: Arc::new(value), stamp, weight })
            })
            .await?;
        Ok(copy.value)
    }

    /// Shared layer, then the source; shares what it loaded unless the key was just invalidated.
    async fn load_through<E, F, Fut>(&self, key: &str, load: F) -> Result<(T, u32), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut may_share = self.shared;
        if self.shared {
            match self.backend.get(key).await {
                Ok(Shared::Value(bytes)) => match serde_json::from_slice(&bytes) {
                    Ok(value) => {
                        self.count(Outcome::HitRedis);
                        return Ok((value, weight(bytes.len())));
                    }
                    // an old or foreign encoding: load and overwrite it
                    Err(_) => self.count(Outcome::Error),
                },
                Ok(Shared::Invalidated) => may_share = false,
                Ok(Shared::Missing) => {}
                Err(_) => {
                    self.count(Outcome::Error);
                    may_share = false;
                }
            }
        }
        let value = load().await?;
        self.count(Outcome::Miss);
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        if may_share && !bytes.is_empty() {
            let _ = self.backend.put(key, &bytes, self.settings.shared_ttl).await;
        }
        Ok((value, weight(bytes.len())))
    }

    /// Whether reads skip this replica's local layer: caching off (then they go to the source), or
    /// the invalidation channel not trusted, e.g. Redis unreachable (then to the shared copy, else
    /// the source). A caller that can then read this value together with another in one query
    /// does so, and says so with [`Cache::count_bypass`].
    pub fn bypassed(&self) -> bool {
        !self.settings.enabled || !self.backend.local_layer_trusted()
    }

    /// Counts a read of this cache's value that its caller made at the source itself (see
    /// [`Cache::bypassed`]), as `get_or_load` counts its own.
    pub fn count_bypass(&self) {
        self.count(Outcome::Bypass);
    }

    /// The stamp a companion copy of `key` — a value this replica keeps beside the cache's own,
    /// such as an agent's engine state beside its view — carries to be dropped with the cache's
    /// copy by every invalidation of `key`, on any replica. `None` while the local layer may not
    /// be used (caching off, or the invalidation channel not trusted).
    pub fn stamp(&self, key: &str) -> Option<Stamp> {
        (!self.bypassed()).then(|| self.backend.epochs().stamp(&self.key(key)))
    }

    /// Whether a companion copy stamped `stamp` is still good (see [`Cache::stamp`]).
    pub fn is_current(&self, key: &str, stamp: Stamp) -> bool {
        self.stamp(key) == Some(stamp)
    }

    /// `key` changed: this replica's copy is dropped now, the shared copy and every other
    /// replica's within the backend's bound. A failure to tell the others is logged and counted;
    /// they then find their channel down too (the same Redis) and bypass their local layers.
    pub async fn invalidate(&self, key: &str) {
        let key = self.key(key);
        self.local.invalidate(&key).await;
        if let Err(error) = self.backend.invalidate(&key).await {
            tracing::warn!(cache = self.name, error = %error, "could not share a cache invalidation");
        }
    }

    /// Entries and total weight of the local layer, for the scrape-time gauges.
    pub fn report(&self) {
        metrics::gauge!("freeagentics_cache_local_entries", "cache" => self.name).set(self.local.entry_count() as f64);
        metrics::gauge!("freeagentics_cache_local_weight_bytes", "cache" => self.name)
            .set(self.local.weighted_size() as f64);
    }
}

fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}
