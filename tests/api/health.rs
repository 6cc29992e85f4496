use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

both_backends! {
    async fn liveness_and_readiness_are_ok(app) {
        for path in ["/health", "/health/live"] {
            let response = app.get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "ok");
            assert_eq!(body["service"], "freeagentics");
            assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "the workspace version");
        }
        for path in ["/api/v1/health", "/health/ready"] {
            let response = app.get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "healthy", "{body}");
            assert_eq!(body["checks"]["database"]["status"], "up");
            assert!(body["checks"]["database"]["latency_ms"].as_f64().is_some());
            assert!(body["checks"]["database"]["pool"]["max"].as_u64().unwrap() >= 1);
            match app.backend {
                Backend::Sqlite => {
                    assert_eq!(body["checks"]["database"]["backend"], "sqlite");
                    assert_eq!(body["checks"]["redis"]["status"], "disabled");
                }
                Backend::Postgres => {
                    assert_eq!(body["checks"]["database"]["backend"], "postgres");
                    assert_eq!(body["checks"]["redis"]["status"], "up");
                    assert!(body["checks"]["redis"]["latency_ms"].as_f64().is_some());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_postgres_is_unreachable_but_liveness_stays_up() {
    let options = Options { database_unreachable: true, ..Options::new(Backend::Sqlite) };
    let app = TestApp::spawn_with(options).await.unwrap();
    let response = app.get("/api/v1/health").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert_eq!(body["checks"]["database"]["backend"], "postgres");
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_degraded_when_redis_is_unreachable() {
    let options = Options { redis_unreachable: true, ..Options::new(Backend::Sqlite) };
    let app = TestApp::spawn_with(options).await.unwrap();
    let response = app.get("/api/v1/health").await;
    assert_eq!(response.status(), StatusCode::OK, "Redis down must never make readiness fail");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

/// A saturated pool answers 503 after the acquire timeout instead of queueing requests behind the
/// ones that hold its connections: here the only connection is stuck behind a table lock taken by
/// another client, and a second request is refused while the first is still waiting. The server
/// runs in a process of its own so the acquire-timeout counter it reports is this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_database_pool_answers_503_without_queueing() {
    use sqlx::Connection as _;
    if !crate::helpers::services_available().await {
        return;
    }
    let database = crate::helpers::TestDatabase::create().await;
    let mut process = crate::helpers::Process::spawn(&[
        ("DATABASE_URL", database.url.clone()),
        ("DATABASE_POOL_SIZE", "1".to_owned()),
        ("DATABASE_MAX_OVERFLOW", "0".to_owned()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "300".to_owned()),
        // `/auth/me` must read the database on every request here
        ("CACHE_ENABLED", "false".to_owned()),
    ])
    .await;
    process.discard_log();
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "username": "pool-holder", "email": "pool-holder@example.com", "password": crate::helpers::PASSWORD,
    });
    let registered = client.post(format!("{}/api/v1/auth/register", process.base)).json(&body).send().await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let session = crate::helpers::Session::from_body(registered.json().await.unwrap());
    let me = format!("{}/api/v1/auth/me", process.base);

    let mut other = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("begin").execute(&mut other).await.unwrap();
    sqlx::query("lock table users in access exclusive mode").execute(&mut other).await.unwrap();

    // the first request takes the pool's only connection and waits on the lock
    let stuck = {
        let request = client.get(&me).bearer_auth(&session.access);
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    let waiting = "select count(*) from pg_locks where not granted and relation = 'users'::regclass";
    let mut blocked = false;
    for _ in 0..250 {
        let count: i64 = sqlx::query_scalar(waiting).fetch_one(&mut other).await.unwrap();
        if count > 0 {
            blocked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(blocked, "the first request should be waiting on the lock");

    let refused = client.get(&me).bearer_auth(&session.access).send().await.unwrap();
    assert!(refused.headers().contains_key("retry-after"), "{:?}", refused.headers());
    crate::helpers::problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!stuck.is_finished(), "refused while the first request still holds the connection");

    sqlx::query("commit").execute(&mut other).await.unwrap();
    assert_eq!(stuck.await.unwrap(), StatusCode::OK, "the first request completes once the lock is gone");
    let timeouts = process.metric(&client, "freeagentics_db_pool_acquire_timeouts_total").await;
    assert_eq!(timeouts, 1.0, "the one refused request is counted");
}
