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
