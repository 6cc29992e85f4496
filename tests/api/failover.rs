//! Redis Sentinel failover under load, on loopback: a primary, a replica and three sentinels
//! started here (`redis-server`, `redis-server --sentinel`), the service configured with
//! `REDIS_SENTINELS`. The primary is killed while clients keep calling an endpoint that uses Redis
//! on every request (rate limiter and token denylist); the service must keep answering (non-2xx
//! at most 0.1 %) and be using the promoted replica within the sentinels' failover time + 5 s.
use crate::helpers::{Backend, Options, RedisServer as Server, TestApp, redis_server_available, wait_until};
use redis::AsyncCommands as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MASTER: &str = "fa-failover";
/// Redis marks the primary down after this long without an answer.
const DOWN_AFTER_MS: u64 = 1000;
const CLIENTS: usize = 6;

/// The port the sentinel names as primary.
async fn primary_port(sentinel: &Server) -> Option<u16> {
    let mut conn = sentinel.client().await?;
    let addr: Option<(String, String)> =
        redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(MASTER).query_async(&mut conn).await.ok()?;
    addr.and_then(|(_, port)| port.parse().ok())
}

/// Commands the service ran against a server (scripts for the limiter, EXISTS for the denylist):
/// a replica only sees the effects replicated to it, never these.
async fn service_calls(server: &Server) -> u64 {
    let stats = server.info("commandstats").await;
    ["cmdstat_evalsha:", "cmdstat_eval:", "cmdstat_exists:"]
        .iter()
        .filter_map(|prefix| stats.lines().find(|l| l.starts_with(prefix)))
        .filter_map(|line| line.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_keeps_answering_through_a_sentinel_failover() {
    if !redis_server_available() {
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("fa-failover-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut primary = Server::start(&dir, "primary", &[]).await;
    let replica =
        Server::start(&dir, "replica", &["--replicaof".to_owned(), "127.0.0.1".to_owned(), primary.port.to_string()])
            .await;
    assert!(
        wait_until(Duration::from_secs(15), || async { primary.info("replication").await.contains("state=online") })
            .await,
        "the replica never synchronised"
    );
    let monitor = vec![
        format!("sentinel monitor {MASTER} 127.0.0.1 {} 2", primary.port),
        format!("sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}"),
        format!("sentinel failover-timeout {MASTER} 10000"),
        format!("sentinel parallel-syncs {MASTER} 1"),
    ];
    let mut sentinels = Vec::new();
    for i in 0..3 {
        sentinels.push(Server::start(&dir, &format!("sentinel{i}"), &monitor).await);
    }
    // every sentinel knows the other two and the replica before anything fails
    assert!(
        wait_until(Duration::from_secs(20), || async {
            for s in &sentinels {
                let Some(mut conn) = s.client().await else { return false };
                let master: Vec<String> =
                    redis::cmd("SENTINEL").arg("master").arg(MASTER).query_async(&mut conn).await.unwrap_or_default();
                let field = |name: &str| master.iter().position(|f| f == name).and_then(|i| master.get(i + 1)).cloned();
                if field("num-other-sentinels").as_deref() != Some("2") || field("num-slaves").as_deref() != Some("1") {
                    return false;
                }
            }
            true
        })
        .await,
        "the sentinels never saw each other and the replica"
    );

    let sentinel_list = sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect::<Vec<_>>().join(",");
    let options = Options::new(Backend::Postgres)
        .with("REDIS_URL", format!("redis://127.0.0.1:{}/0", primary.port))
        .with("REDIS_SENTINELS", sentinel_list)
        .with("REDIS_SENTINEL_MASTER", MASTER)
        .with("REDIS_TIMEOUT_MS", "200")
        .with("RATE_LIMIT_READS", "100000,100000/100");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    let app = Arc::new(app);
    let session = app.register("failover").await;
    assert_eq!(app.get_as("/api/v1/auth/me", &session.access).await.status(), 200);
    assert!(service_calls(&primary).await > 0, "the service talks to the primary Sentinel named");
    let replica_calls_before = service_calls(&replica).await;

    // load: clients call an authenticated endpoint (limiter + denylist in Redis) until told to stop
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (app, token, stop, ok, failed) =
            (app.clone(), session.access.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let request = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&token).send();
                match tokio::time::timeout(Duration::from_secs(5), request).await {
                    Ok(Ok(response)) if response.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // kill the primary (SIGKILL: no goodbye to clients or replica)
    let killed = Instant::now();
    primary.stop().await;
    let promoted =
        wait_until(Duration::from_secs(30), || async { primary_port(&sentinels[0]).await == Some(replica.port) }).await;
    let failover_time = killed.elapsed();
    assert!(promoted, "the sentinels did not promote the replica within 30 s");
    let budget = (failover_time + Duration::from_secs(5)).saturating_sub(killed.elapsed());
    let used = wait_until(budget, || async { service_calls(&replica).await > replica_calls_before }).await;
    let switch_time = killed.elapsed();
    // keep the load on a little longer: the service must stay on the new primary
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let total = ok + failed;
    eprintln!(
        "failover: sentinels promoted the replica after {failover_time:?}, the service used it after \
         {switch_time:?}; {total} requests, {failed} not 2xx"
    );
    assert!(total > 500, "too little load to judge: {total} requests");
    assert!(failed * 1000 <= total, "{failed} of {total} requests failed (more than 0.1 %)");
    assert!(used, "the service did not use the new primary within the failover time ({failover_time:?}) + 5 s");
    // and it writes there: a revocation reaches the new primary
    let mut conn = replica.client().await.unwrap();
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.unwrap();
    assert_eq!(role.first(), Some(&redis::Value::BulkString(b"master".to_vec())), "the replica was promoted");
    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&session.access)
        .json(&serde_json::json!({ "refresh_token": session.refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let prefix = app.redis_prefix.clone().unwrap_or_default();
    let denied: Vec<String> = conn.keys(format!("{prefix}deny:*")).await.unwrap();
    assert_eq!(denied.len(), 1, "the revoked token is recorded on the new primary");
    drop(sentinels);
    drop(replica);
    let _ = std::fs::remove_dir_all(dir);
}
