//! The two-level cache behaves the same over both backends: in-process (embedded profile) and
//! Redis (shared copies, invalidation channel). Loader call counts say where each answer came from.
use freeagentics_shared_state::cache::{Cache, CacheBackend, CacheSettings, LocalCacheBackend, RedisCacheBackend};
use freeagentics_shared_state::{RedisOptions, RedisPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A source that counts its loads and answers its current value.
#[derive(Default)]
struct Source {
    loads: AtomicUsize,
    value: std::sync::Mutex<String>,
}

impl Source {
    fn set(&self, value: &str) {
        *self.value.lock().unwrap() = value.to_owned();
    }

    async fn load(&self, delay: Duration) -> Result<String, String> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let value = self.value.lock().unwrap().clone();
        tokio::time::sleep(delay).await;
        if value == "fail" { Err("the source failed".to_owned()) } else { Ok(value) }
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

async fn read(cache: &Cache<String>, source: &Source) -> String {
    let value = cache.get_or_load("k", || source.load(Duration::ZERO)).await.unwrap();
    (*value).clone()
}

/// A Redis backend with its channel running, trusted before it is returned.
async fn redis_backend(pool: &RedisPool) -> Arc<RedisCacheBackend> {
    let backend = RedisCacheBackend::new(pool.clone());
    tokio::spawn(backend.clone().run(CancellationToken::new()));
    for _ in 0..100 {
        if backend.local_layer_trusted() {
            return backend;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the invalidation channel never became trusted");
}

fn settings() -> CacheSettings {
    CacheSettings {
        local_ttl: Duration::from_secs(60),
        shared_ttl: Duration::from_secs(60),
        ..CacheSettings::default()
    }
}

async fn get_set_invalidate(backend: Arc<dyn CacheBackend>) {
    let cache = Cache::shared("suite", backend, settings());
    let source = Source::default();
    source.set("v1");
    assert_eq!(read(&cache, &source).await, "v1");
    assert_eq!(read(&cache, &source).await, "v1");
    assert_eq!(source.loads(), 1, "the second read is a hit");
    source.set("v2");
    assert_eq!(read(&cache, &source).await, "v1", "unchanged until invalidated");
    cache.invalidate("k").await;
    assert_eq!(read(&cache, &source).await, "v2", "read after write sees the write at once");
    assert_eq!(source.loads(), 2);
}

async fn copies_expire(backend: Arc<dyn CacheBackend>) {
    let short = CacheSettings {
        local_ttl: Duration::from_millis(150),
        shared_ttl: Duration::from_millis(150),
        ..CacheSettings::default()
    };
    let cache = Cache::shared("ttl", backend, short);
    let source = Source::default();
    source.set("v1");
    read(&cache, &source).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    read(&cache, &source).await;
    assert_eq!(source.loads(), 2, "both layers expired");
}

async fn concurrent_misses_load_once(backend: Arc<dyn CacheBackend>) {
    let cache = Cache::shared("stampede", backend, settings());
    let source = Arc::new(Source::default());
    source.set("v1");
    let readers = (0..20).map(|_| {
        let (cache, source) = (cache.clone(), source.clone());
        tokio::spawn(async move { cache.get_or_load("k", || source.load(Duration::from_millis(100))).await })
    });
    for reader in futures_util::future::join_all(readers).await {
        assert_eq!(*reader.unwrap().unwrap(), "v1");
    }
    assert_eq!(source.loads(), 1, "20 concurrent misses, one load");
}

async fn load_errors_are_not_cached(backend: Arc<dyn CacheBackend>) {
    let cache = Cache::shared("errors", backend, settings());
    let source = Source::default();
    source.set("fail");
    assert!(cache.get_or_load("k", || source.load(Duration::ZERO)).await.is_err());
    source.set("v1");
    assert_eq!(read(&cache, &source).await, "v1");
    assert_eq!(source.loads(), 2);
}

/// A load that read the old value while the key was invalidated is not kept.
async fn a_load_overtaken_by_a_write_is_not_kept(backend: Arc<dyn CacheBackend>) {
    let cache = Cache::shared("race", backend, settings());
    let source = Arc::new(Source::default());
    source.set("old");
    let slow = {
        let (cache, source) = (cache.clone(), source.clone());
        tokio::spawn(async move { cache.get_or_load("k", || source.load(Duration::from_millis(200))).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    source.set("new");
    cache.invalidate("k").await;
    assert_eq!(*slow.await.unwrap().unwrap(), "old", "the slow reader gets what it read");
    assert_eq!(read(&cache, &source).await, "new", "but its copy is not served afterwards");
}

/// A companion copy (kept beside the cache's own, under its stamp) is dropped by an invalidation
/// of its key and by nothing else: this replica's own invalidation, heard back from the channel,
/// does not drop a copy taken after it.
async fn companion_copies_follow_invalidations(backend: Arc<dyn CacheBackend>) {
    let cache: Cache<String> = Cache::shared("companion", Arc::clone(&backend), settings());
    let before = cache.stamp("k").expect("the local layer is in use");
    assert!(cache.is_current("k", before));
    cache.invalidate("k").await;
    assert!(!cache.is_current("k", before), "invalidated at once on this replica");
    // the channel brings each invalidation back to this replica, sometimes after `invalidate`
    // has returned and a copy was taken: that copy stays good
    for round in 0..50 {
        cache.invalidate("k").await;
        let after = cache.stamp("k").unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(cache.is_current("k", after), "round {round}: this replica's own invalidation counted twice");
    }
    let off = Cache::<String>::shared("companion", backend, CacheSettings { enabled: false, ..settings() });
    assert_eq!(off.stamp("k"), None, "caching off: nothing may be kept");
}

/// Caching off (`CACHE_ENABLED=false`): every read is a load from the source; no copy is kept
/// locally or shared for another replica (or a cache with caching on) to find.
async fn caching_off_reads_the_source_every_time(backend: Arc<dyn CacheBackend>) {
    let off = |backend: &Arc<dyn CacheBackend>| {
        Cache::<String>::shared("off", Arc::clone(backend), CacheSettings { enabled: false, ..settings() })
    };
    let (a, b) = (off(&backend), off(&backend));
    let source = Source::default();
    source.set("v1");
    assert!(a.bypassed());
    assert_eq!(read(&a, &source).await, "v1");
    assert_eq!(read(&a, &source).await, "v1");
    assert_eq!(read(&b, &source).await, "v1");
    assert_eq!(source.loads(), 3, "each read loaded");
    let on = Cache::<String>::shared("off", backend, settings());
    assert!(!on.bypassed());
    assert_eq!(read(&on, &source).await, "v1");
    assert_eq!(source.loads(), 4, "nothing was shared while caching was off");
}

macro_rules! both_backends {
    ($($suite:ident),* $(,)?) => {
        $(
            mod $suite {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_process() {
                    super::$suite(Arc::new(LocalCacheBackend::default())).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    let Some(pool) = crate::redis().await else { return };
                    super::$suite(redis_backend(&pool).await).await;
                }
            }
        )*
    };
}

both_backends!(
    get_set_invalidate,
    caching_off_reads_the_source_every_time,
    copies_expire,
    concurrent_misses_load_once,
    load_errors_are_not_cached,
    a_load_overtaken_by_a_write_is_not_kept,
    companion_copies_follow_invalidations,
);

/// Two replicas on one Redis: a copy loaded by one is a shared hit for the other, and an
/// invalidation on one reaches the other's local layer within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_copies_and_invalidations() {
    let Some(pool) = crate::redis().await else { return };
    let a = Cache::shared("replicas", redis_backend(&pool).await as Arc<dyn CacheBackend>, settings());
    let b = Cache::shared("replicas", redis_backend(&pool).await as Arc<dyn CacheBackend>, settings());
    let source = Source::default();
    source.set("v1");
    assert_eq!(read(&a, &source).await, "v1");
    assert_eq!(read(&b, &source).await, "v1");
    assert_eq!(source.loads(), 1, "b found a's shared copy");
    source.set("v2");
    a.invalidate("k").await;
    let started = std::time::Instant::now();
    while read(&b, &source).await != "v2" {
        assert!(started.elapsed() < Duration::from_secs(1), "b still serves the old value after 1 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A companion copy on one replica is dropped by the other's invalidation of its key, within
/// the channel's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companion_copies_follow_other_replicas_invalidations() {
    let Some(pool) = crate::redis().await else { return };
    let a: Cache<String> = Cache::shared("companions", redis_backend(&pool).await as Arc<dyn CacheBackend>, settings());
    let b: Cache<String> = Cache::shared("companions", redis_backend(&pool).await as Arc<dyn CacheBackend>, settings());
    let kept = a.stamp("k").unwrap();
    b.invalidate("k").await;
    let started = std::time::Instant::now();
    while a.is_current("k", kept) {
        assert!(started.elapsed() < Duration::from_secs(1), "a still trusts its copy a second after b's write");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Redis unreachable: every read is a miss that loads from the source, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_shared_layer_is_a_miss() {
    let options =
        RedisOptions { pool_size: 2, timeout: Duration::from_millis(100), key_prefix: "fa:test:down:".to_owned() };
    let pool = RedisPool::new("redis://127.0.0.1:1", &options).unwrap();
    let backend = RedisCacheBackend::new(pool);
    tokio::spawn(backend.clone().run(CancellationToken::new()));
    let cache = Cache::shared("down", backend as Arc<dyn CacheBackend>, settings());
    let source = Source::default();
    source.set("v1");
    for _ in 0..3 {
        assert_eq!(read(&cache, &source).await, "v1");
    }
    assert_eq!(source.loads(), 3, "no channel: the local layer is bypassed");
    cache.invalidate("k").await;
}
