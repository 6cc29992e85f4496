//! The two-level cache across replicas: two server processes on one PostgreSQL and one Redis. A
//! change made through A — logout, role change, deactivation, any update — is seen by B within a
//! second, although B serves its reads of the same principal from its in-process layer; and with
//! Redis stopped and restarted, B never serves a copy invalidated while its channel was down.
use crate::helpers::{
    PASSWORD, Process, RedisServer, Replicas, Session, redis_server_available, redis_url, services_available,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long a change may take to reach the other replica (the cache's documented bound).
const BOUND: Duration = Duration::from_secs(1);

async fn replicas(redis: &str) -> Replicas {
    Replicas::start_on(redis, &[("REDIS_TIMEOUT_MS", "200")]).await
}

async fn login(client: &Client, at: &Process, username: &str) -> Option<Session> {
    let body = json!({ "username_or_email": username, "password": PASSWORD });
    let response = client.post(format!("{}/api/v1/auth/login", at.base)).json(&body).send().await.ok()?;
    (response.status() == StatusCode::OK).then_some(())?;
    Some(Session::from_body(response.json().await.ok()?))
}

impl Replicas {
    async fn register(&self, username: &str) -> Session {
        let body = json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD });
        let response =
            self.client.post(format!("{}/api/v1/auth/register", self.a.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        Session::from_body(response.json().await.unwrap())
    }

    async fn me(&self, at: &Process, token: &str) -> (StatusCode, Value) {
        let response = self.client.get(format!("{}/api/v1/auth/me", at.base)).bearer_auth(token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    async fn patch_user(&self, id: &str, body: Value) {
        let url = format!("{}/api/v1/users/{id}", self.a.base);
        let response = self.client.patch(url).bearer_auth(&self.admin.access).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    }

    /// Polls B until `check` holds on its answer to `token`; how long that took.
    async fn until_b<F: Fn(StatusCode, &Value) -> bool>(&self, token: &str, check: F) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = self.me(&self.b, token).await;
            if check(status, &body) {
                return started.elapsed();
            }
            assert!(started.elapsed() < BOUND * 3, "B did not see the change (last answer {status} {body})");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_reach_the_other_within_the_bound() {
    if !services_available().await {
        return;
    }
    let replicas = replicas(&redis_url()).await;
    let user = replicas.register("cached").await;

    // logout on A: B refuses the token
    assert_eq!(replicas.me(&replicas.b, &user.access).await.0, StatusCode::OK, "B has it cached now");
    let logout = replicas.client.post(format!("{}/api/v1/auth/logout", replicas.a.base)).bearer_auth(&user.access);
    assert_eq!(logout.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let took = replicas.until_b(&user.access, |status, _| status == StatusCode::UNAUTHORIZED).await;
    assert!(took <= BOUND, "logout reached B after {took:?}");

    // an update on A is read fresh on B
    let session = login(&replicas.client, &replicas.a, "cached").await.unwrap();
    let (_, before) = replicas.me(&replicas.b, &session.access).await;
    replicas.patch_user(&user.id, json!({ "is_active": true })).await;
    let version = before["version"].as_i64().unwrap() + 1;
    let took = replicas.until_b(&session.access, |_, body| body["version"].as_i64() == Some(version)).await;
    assert!(took <= BOUND, "the update reached B after {took:?}");

    // a role change on A ends the session on B
    replicas.patch_user(&user.id, json!({ "role": "researcher" })).await;
    let took = replicas.until_b(&session.access, |status, _| status == StatusCode::UNAUTHORIZED).await;
    assert!(took <= BOUND, "the role change reached B after {took:?}");
    let promoted = login(&replicas.client, &replicas.a, "cached").await.unwrap();
    let (status, body) = replicas.me(&replicas.b, &promoted.access).await;
    assert_eq!((status, body["role"].as_str()), (StatusCode::OK, Some("researcher")));

    // deactivation on A: refused on B
    let deactivate = replicas.client.delete(format!("{}/api/v1/users/{}", replicas.a.base, user.id));
    assert_eq!(deactivate.bearer_auth(&replicas.admin.access).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let took = replicas.until_b(&promoted.access, |status, _| status == StatusCode::UNAUTHORIZED).await;
    assert!(took <= BOUND, "the deactivation reached B after {took:?}");
}

/// Redis goes away while B holds a cached principal, the account changes through A, Redis comes
/// back: B answers from the database while its channel is down, and drops the copy it held once
/// the channel is back — it never answers with the version invalidated during the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_invalidated_while_redis_was_down_is_never_served() {
    if !services_available().await || !redis_server_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fa-cache-redis-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = RedisServer::start(&dir, "cache", &[]).await;
    let port = redis.port;
    let replicas = replicas(&format!("redis://127.0.0.1:{port}")).await;
    let user = replicas.register("outage").await;
    let (status, before) = replicas.me(&replicas.b, &user.access).await;
    assert_eq!(status, StatusCode::OK);
    let old = before["version"].as_i64().unwrap();

    redis.stop().await;
    // past the trust window: B's local layer is bypassed now
    tokio::time::sleep(Duration::from_millis(1500)).await;
    replicas.patch_user(&user.id, json!({ "is_active": true })).await;
    for _ in 0..10 {
        let (status, body) = replicas.me(&replicas.b, &user.access).await;
        assert_eq!((status, body["version"].as_i64()), (StatusCode::OK, Some(old + 1)), "during the outage");
    }

    let redis = RedisServer::start_on(port, &dir, "cache", &[]).await;
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(3) {
        let (status, body) = replicas.me(&replicas.b, &user.access).await;
        assert_eq!((status, body["version"].as_i64()), (StatusCode::OK, Some(old + 1)), "after the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(dir);
}
