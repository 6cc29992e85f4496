//! The shared-state traits behave the same on Redis and in-process: one suite, both backends.
// Tests assert by unwrapping and report skips on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
use freeagentics_shared_state::*;
use std::sync::Arc;
use std::time::Duration;

use freeagentics_test_support::redis_url;

#[path = "conformance/cache.rs"]
mod cache;
#[path = "conformance/events.rs"]
mod events;

/// A denylist whose cache listens to Redis invalidations (as in the server), with its task.
fn redis_denylist(pool: &RedisPool) -> RedisDenylist {
    let backend = RedisCacheBackend::new(pool.clone());
    tokio::spawn(backend.clone().run(tokio_util::sync::CancellationToken::new()));
    RedisDenylist::new(pool.clone(), Cache::local("denylist", backend, CacheSettings::default()))
}

/// A pool with a unique key prefix; `None` outside CI when Redis is not running.
pub(crate) async fn redis() -> Option<RedisPool> {
    let options = RedisOptions {
        pool_size: 4,
        timeout: Duration::from_millis(500),
        key_prefix: format!("fa:test:{}:", uuid::Uuid::now_v7().simple()),
    };
    let pool = RedisPool::new(&redis_url(), &options).unwrap();
    match pool.ping().await {
        Ok(_) => Some(pool),
        Err(e) => {
            freeagentics_test_support::available(false, "Redis", &e);
            None
        }
    }
}

async fn limiter_suite(limiter: Arc<dyn RateLimiter>, expected: LimiterBackend) {
    let quota = Quota::per(3, Duration::from_secs(60));
    for remaining in (0..3).rev() {
        let (decision, backend) = limiter.hit("suite:a", quota).await;
        assert!(decision.allowed);
        assert_eq!(decision.remaining, remaining);
        assert_eq!(decision.limit, 3);
        assert_eq!(backend, expected);
    }
    let (peeked, _) = limiter.peek("suite:a", quota).await;
    assert!(!peeked.allowed);
    let (denied, _) = limiter.hit("suite:a", quota).await;
    assert!(!denied.allowed);
    assert!(
        denied.retry_after > Duration::from_secs(19) && denied.retry_after <= Duration::from_secs(20),
        "{denied:?}"
    );
    assert!(limiter.hit("suite:b", quota).await.0.allowed, "keys are independent");
    limiter.reset("suite:a").await;
    assert!(limiter.peek("suite:a", quota).await.0.allowed);
    // refill: a 4-per-200ms quota allows one more after 50 ms
    let fast = Quota::per(4, Duration::from_millis(200));
    for _ in 0..4 {
        assert!(limiter.hit("suite:fast", fast).await.0.allowed);
    }
    assert!(!limiter.hit("suite:fast", fast).await.0.allowed);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(limiter.hit("suite:fast", fast).await.0.allowed);
}

async fn denylist_suite(denylist: Arc<dyn Denylist>) {
    assert!(!denylist.is_revoked("jti-1").await);
    denylist.revoke("jti-1", Duration::from_secs(60)).await;
    assert!(denylist.is_revoked("jti-1").await);
    assert!(!denylist.is_revoked("jti-2").await);
    // entries end with the token: Redis rounds TTLs up to whole seconds, so wait past one
    denylist.revoke("short", Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(!denylist.is_revoked("short").await, "expired entries are forgotten");
    assert!(denylist.is_revoked("jti-1").await, "live entries stay");
}

#[tokio::test]
async fn local_rate_limiter() {
    limiter_suite(Arc::new(LocalRateLimiter::default()), LimiterBackend::Local).await;
}

#[tokio::test]
async fn redis_rate_limiter() {
    let Some(pool) = redis().await else { return };
    limiter_suite(Arc::new(RedisRateLimiter::new(pool)), LimiterBackend::Redis).await;
}

#[tokio::test]
async fn redis_limits_are_shared_between_instances() {
    let Some(pool) = redis().await else { return };
    let a = RedisRateLimiter::new(pool.clone());
    let b = RedisRateLimiter::new(pool);
    let quota = Quota::per(2, Duration::from_secs(60));
    assert!(a.hit("shared", quota).await.0.allowed);
    assert!(b.hit("shared", quota).await.0.allowed);
    assert!(!a.hit("shared", quota).await.0.allowed, "b's request counted for a");
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_the_local_limiter() {
    let options =
        RedisOptions { pool_size: 2, timeout: Duration::from_millis(200), key_prefix: "fa:test:down:".to_owned() };
    let pool = RedisPool::new("redis://127.0.0.1:1", &options).unwrap();
    assert!(pool.ping().await.is_err());
    limiter_suite(Arc::new(RedisRateLimiter::new(pool.clone())), LimiterBackend::Local).await;
    // a revocation made while Redis is down still holds on this replica
    let denylist = redis_denylist(&pool);
    denylist.revoke("offline", Duration::from_secs(60)).await;
    assert!(denylist.is_revoked("offline").await);
}

#[tokio::test]
async fn local_denylist() {
    denylist_suite(Arc::new(LocalDenylist::default())).await;
}

#[tokio::test]
async fn redis_denylist_is_shared_and_expires() {
    let Some(pool) = redis().await else { return };
    denylist_suite(Arc::new(redis_denylist(&pool))).await;
    // another replica (its own local copy, same Redis) sees the revocation
    let other = redis_denylist(&pool);
    assert!(other.is_revoked("jti-1").await);
    let ttl: i64 = pool.query(deadpool_redis::redis::cmd("PTTL").arg(pool.key("deny:jti-1"))).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "entries expire with the token: {ttl}");
    let _: i64 = pool
        .query(deadpool_redis::redis::cmd("DEL").arg(pool.key("deny:jti-1")).arg(pool.key("rl:shared")))
        .await
        .unwrap();
}
