//! Rate limits and login throttling.
use crate::helpers::{Backend, Options, PASSWORD, TestApp, problem, redis_url, services_available};
use reqwest::StatusCode;
use serde_json::json;

fn limited(backend: Backend, reads: &str) -> Options {
    Options::new(backend).with("RATE_LIMIT_READS", reads)
}

async fn read(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/api/v1/openapi.json"));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn assert_class_limit(app: &TestApp) {
    for remaining in (0..3).rev() {
        let response = read(app, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining.to_string().as_str());
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert!(response.headers().contains_key("ratelimit-reset"));
    }
    let denied = read(app, None).await;
    let retry_after: u64 = denied.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(denied.headers()["ratelimit-remaining"], "0");
    problem(denied, StatusCode::TOO_MANY_REQUESTS).await;
    // probes are never limited
    for _ in 0..5 {
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/v1/health").await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_n_plus_first_request_is_429_sqlite() {
    let app = TestApp::spawn_with(limited(Backend::Sqlite, "3,3/60")).await.unwrap();
    assert_class_limit(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_n_plus_first_request_is_429_redis() {
    let Some(app) = TestApp::spawn_with(limited(Backend::Postgres, "3,3/60")).await else { return };
    assert_class_limit(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_two_instances_sharing_redis() {
    if !services_available().await {
        return;
    }
    let prefix = format!("fa:test:shared:{}:", uuid::Uuid::now_v7().simple());
    let options = || limited(Backend::Postgres, "4,4/60").with("REDIS_KEY_PREFIX", prefix.clone());
    let a = TestApp::spawn_with(options()).await.unwrap();
    let b = TestApp::spawn_with(options()).await.unwrap();
    for app in [&a, &b, &a, &b] {
        assert_eq!(read(app, None).await.status(), StatusCode::OK);
    }
    assert_eq!(read(&a, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(read(&b, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty(), "the shared state lives under the configured prefix");
    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_requests_succeed_and_the_local_limiter_limits() {
    let options = Options { redis_unreachable: true, ..limited(Backend::Sqlite, "3,3/60") };
    let app = TestApp::spawn_with(options).await.unwrap();
    assert_class_limit(&app).await;
    // sign-up and sign-in (denylist, throttle) keep working without Redis
    let session = app.register("offline").await;
    assert_eq!(app.get_as("/api/v1/auth/me", &session.access).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let untrusted = TestApp::spawn_with(limited(Backend::Sqlite, "2,2/60")).await.unwrap();
    assert_eq!(read(&untrusted, Some("198.51.100.1")).await.status(), StatusCode::OK);
    assert_eq!(read(&untrusted, Some("198.51.100.2")).await.status(), StatusCode::OK);
    assert_eq!(
        read(&untrusted, Some("198.51.100.3")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header must not buy a new budget"
    );

    let behind_proxy =
        TestApp::spawn_with(limited(Backend::Sqlite, "2,2/60").with("TRUSTED_PROXIES", "127.0.0.1/32, ::1"))
            .await
            .unwrap();
    for _ in 0..2 {
        assert_eq!(read(&behind_proxy, Some("6.6.6.6, 198.51.100.1")).await.status(), StatusCode::OK);
    }
    assert_eq!(
        read(&behind_proxy, Some("198.51.100.1")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right-most hop is the client"
    );
    assert_eq!(
        read(&behind_proxy, Some("198.51.100.2")).await.status(),
        StatusCode::OK,
        "another client, another budget"
    );
}

async fn login_throttling(backend: Backend) {
    let options = Options::new(backend)
        .with("TRUSTED_PROXIES", "127.0.0.1/32")
        .with("LOGIN_THROTTLE_ACCOUNT_IP_FAILURES", "3")
        .with("LOGIN_THROTTLE_WINDOW_SECONDS", "6");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    app.register("target").await;
    let attempt = |ip: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username_or_email": "target", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.66", "guess guess guess").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // blocked, even with the right password, for a bounded time
    let blocked = attempt("203.0.113.66", PASSWORD).await.unwrap();
    let retry_after: u64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    problem(blocked, StatusCode::TOO_MANY_REQUESTS).await;
    // the real user, elsewhere, is not locked out by the attacker
    assert_eq!(attempt("198.51.100.20", PASSWORD).await.unwrap().status(), StatusCode::OK);
    // and after the window the blocked address may try again
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(attempt("203.0.113.66", PASSWORD).await.unwrap().status(), StatusCode::OK);
}

/// Ten wrong guesses at once: every one is charged before its password is checked, so no more
/// than the budget are ever checked.
async fn concurrent_guesses(backend: Backend) {
    let options = Options::new(backend).with("LOGIN_THROTTLE_ACCOUNT_IP_FAILURES", "3");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    app.register("target").await;
    let guesses = (0..10).map(|i| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username_or_email": "target", "password": format!("guess number {i}")}))
            .send()
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(guesses).await.into_iter().map(|r| r.unwrap().status()).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked, 3, "{statuses:?}");
    assert_eq!(refused, 7, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_exceed_the_budget_sqlite() {
    concurrent_guesses(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_exceed_the_budget_redis() {
    concurrent_guesses(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_forwarded_for_lines_are_one_list() {
    let app =
        TestApp::spawn_with(limited(Backend::Sqlite, "1,1/60").with("TRUSTED_PROXIES", "127.0.0.1/32")).await.unwrap();
    let spoof = |fake: &'static str| {
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .header("x-forwarded-for", fake)
            .header("x-forwarded-for", "198.51.100.50")
            .send()
    };
    // the client's own line changes each time; the proxy's line (the last) names the client
    assert_eq!(spoof("1.1.1.1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(spoof("2.2.2.2").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_blocks_brute_force_but_not_the_owner_sqlite() {
    login_throttling(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_blocks_brute_force_but_not_the_owner_redis() {
    login_throttling(Backend::Postgres).await;
}

/// Username and email name one account, so they spend one failure budget: two guesses by
/// username and one by email exhaust a budget of three, and the next attempt — by either — waits.
/// An identifier that names no account has a budget of its own.
async fn one_budget_per_account(backend: Backend) {
    let options = Options::new(backend).with("LOGIN_THROTTLE_ACCOUNT_IP_FAILURES", "3");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    app.register("budgeted").await;
    let attempt = |login: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username_or_email": login, "password": "a wrong guess"}))
            .send()
    };
    for login in ["budgeted", "BUDGETED@example.com", "budgeted"] {
        assert_eq!(attempt(login).await.unwrap().status(), StatusCode::UNAUTHORIZED, "{login}");
    }
    for login in ["budgeted@example.com", "Budgeted"] {
        problem(attempt(login).await.unwrap(), StatusCode::TOO_MANY_REQUESTS).await;
    }
    for _ in 0..3 {
        assert_eq!(attempt("nobody-by-this-name").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    problem(attempt("nobody-by-this-name").await.unwrap(), StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_email_share_one_budget_sqlite() {
    one_budget_per_account(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_email_share_one_budget_redis() {
    one_budget_per_account(Backend::Postgres).await;
}
