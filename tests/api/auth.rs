//! Accounts and sessions: registration, login, refresh rotation, logout, password change.
use crate::both_backends;
use crate::helpers::{PASSWORD, Session, TestApp, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends! {
    async fn full_session_lifecycle(app) {
        let registered = app.register("ada").await;
        assert_eq!(registered.body["user"]["role"], "observer", "registration gets the default role");
        assert_eq!(registered.body["token_type"], "Bearer");
        assert_eq!(registered.body["expires_in"], 900);
        assert!(registered.body["user"].get("password_hash").is_none());

        let login = app.login("ADA", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK, "username is case-insensitive");
        let session = Session::from_body(login.json().await.unwrap());

        let me: Value = app.get_as("/api/v1/auth/me", &session.access).await.json().await.unwrap();
        assert_eq!(me["username"], "ada");
        assert_eq!(me["permissions"], json!(["view_agents", "view_metrics"]));

        // rotation: the new pair works, the old refresh token is spent
        let rotated = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": session.refresh})).await;
        assert_eq!(rotated.status(), StatusCode::OK);
        let rotated = Session::from_body(rotated.json().await.unwrap());
        assert_ne!(rotated.refresh, session.refresh);
        assert_eq!(app.get_as("/api/v1/auth/me", &rotated.access).await.status(), StatusCode::OK);

        // reuse of the rotated token: 401, and the whole family is revoked
        let reuse = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": session.refresh})).await;
        problem(reuse, StatusCode::UNAUTHORIZED).await;
        let newest = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": rotated.refresh})).await;
        problem(newest, StatusCode::UNAUTHORIZED).await;

        // logout: the access token fails on the very next request
        let fresh = Session::from_body(app.login("ada", PASSWORD).await.json().await.unwrap());
        let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&fresh.access)
            .json(&json!({"refresh_token": fresh.refresh})).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let after = app.get_as("/api/v1/auth/me", &fresh.access).await;
        assert_eq!(after.headers()["www-authenticate"], "Bearer");
        problem(after, StatusCode::UNAUTHORIZED).await;
        let refresh_after_logout = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": fresh.refresh})).await;
        problem(refresh_after_logout, StatusCode::UNAUTHORIZED).await;
        // other sessions are untouched by a single-session logout
        let other = Session::from_body(app.login("ada", PASSWORD).await.json().await.unwrap());
        assert_eq!(app.get_as("/api/v1/auth/me", &other.access).await.status(), StatusCode::OK);
        // counted: tests/api/metrics.rs (a process of its own, exact values)
    }

    async fn logout_all_sessions_and_password_change_end_other_tokens(app) {
        app.register("grace").await;
        let a = Session::from_body(app.login("grace", PASSWORD).await.json().await.unwrap());
        let b = Session::from_body(app.login("grace", PASSWORD).await.json().await.unwrap());
        let change = app.client.post(app.url("/api/v1/auth/password")).bearer_auth(&a.access)
            .json(&json!({"current_password": PASSWORD, "new_password": "another sturdy passphrase"})).send().await.unwrap();
        assert_eq!(change.status(), StatusCode::OK);
        let changed = Session::from_body(change.json().await.unwrap());
        assert_eq!(app.get_as("/api/v1/auth/me", &a.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get_as("/api/v1/auth/me", &b.access).await.status(), StatusCode::UNAUTHORIZED, "issued before the change");
        assert_eq!(app.get_as("/api/v1/auth/me", &changed.access).await.status(), StatusCode::OK);
        let old_refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": b.refresh})).await;
        assert_eq!(old_refresh.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("grace", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("grace", "another sturdy passphrase").await.status(), StatusCode::OK);

        let wrong = app.client.post(app.url("/api/v1/auth/password")).bearer_auth(&changed.access)
            .json(&json!({"current_password": "not it at all", "new_password": "yet another passphrase"})).send().await.unwrap();
        problem(wrong, StatusCode::FORBIDDEN).await;
        assert_eq!(app.get_as("/api/v1/auth/me", &changed.access).await.status(), StatusCode::OK, "a wrong current password keeps the session");

        let c = Session::from_body(app.login("grace", "another sturdy passphrase").await.json().await.unwrap());
        let all = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&changed.access)
            .json(&json!({"all_sessions": true})).send().await.unwrap();
        assert_eq!(all.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_as("/api/v1/auth/me", &c.access).await.status(), StatusCode::UNAUTHORIZED);
        let c_refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": c.refresh})).await;
        assert_eq!(c_refresh.status(), StatusCode::UNAUTHORIZED);
    }

    async fn registration_rules(app) {
        // the client can never choose a role, an id or the active flag
        for (field, value) in [("role", json!("admin")), ("id", json!("0190a0a0-0000-7000-8000-000000000000")), ("is_active", json!(false))] {
            let mut body = json!({"username": "mallory", "email": "mallory@example.com", "password": PASSWORD});
            body[field] = value;
            let error = problem(app.post_json("/api/v1/auth/register", &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(error["errors"][0]["field"], field, "{error}");
        }
        assert_eq!(app.login("mallory", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "nothing was created");

        let error = problem(
            app.post_json("/api/v1/auth/register", &json!({"username": "x", "email": "nope", "password": "password"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ).await;
        let fields: Vec<&str> = error["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["username", "email", "password"], "every problem reported at once");

        app.register("Linus").await;
        let dup_name = app.post_json("/api/v1/auth/register", &json!({"username": "linus", "email": "l2@example.com", "password": PASSWORD})).await;
        let error = problem(dup_name, StatusCode::CONFLICT).await;
        assert_eq!(error["errors"][0]["field"], "username");
        let dup_email = app.post_json("/api/v1/auth/register", &json!({"username": "linus2", "email": "LINUS@example.com", "password": PASSWORD})).await;
        let error = problem(dup_email, StatusCode::CONFLICT).await;
        assert_eq!(error["errors"][0]["field"], "email");

        // edges: 3 and 50 characters pass, 51 fails; 128-character passwords pass, 129 fail
        let ok = json!({"username": "abc", "email": "abc@example.com", "password": "x".repeat(128)});
        assert_eq!(app.post_json("/api/v1/auth/register", &ok).await.status(), StatusCode::CREATED);
        let long = json!({"username": "a".repeat(51), "email": "long@example.com", "password": "x".repeat(129)});
        let error = problem(app.post_json("/api/v1/auth/register", &long).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["errors"].as_array().unwrap().len(), 2);
        let fifty = json!({"username": "b".repeat(50), "email": "fifty@example.com", "password": PASSWORD});
        assert_eq!(app.post_json("/api/v1/auth/register", &fifty).await.status(), StatusCode::CREATED);
    }

    async fn json_errors_are_problems(app) {
        let url = app.url("/api/v1/auth/register");
        let malformed = app.client.post(&url).header("content-type", "application/json").body("{\"username\":").send().await.unwrap();
        problem(malformed, StatusCode::BAD_REQUEST).await;
        let text = app.client.post(&url).header("content-type", "text/plain").body("hello").send().await.unwrap();
        problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        let missing = app.client.post(&url).json(&json!({"username": "abc"})).send().await.unwrap();
        let error = problem(missing, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["errors"][0]["field"], "email");
        let wrong_type = app.client.post(&url).json(&json!({"username": 5, "email": "a@b.co", "password": PASSWORD})).send().await.unwrap();
        let error = problem(wrong_type, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["errors"][0]["field"], "username");
        let huge = format!("{{\"username\":\"{}\"}}", "x".repeat(1024 * 1024));
        let too_large = app.client.post(&url).header("content-type", "application/json").body(huge).send().await.unwrap();
        problem(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;
        let body = problem(app.client.post(&url).json(&json!([])).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(!body["detail"].as_str().unwrap().contains("serde"), "no library internals in errors");
        // serde would read the struct from an array, field by field: never an account
        let positional = json!(["positional", "positional@example.com", PASSWORD]);
        let error = problem(app.client.post(&url).json(&positional).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["errors"][0]["field"], "body");
        assert_eq!(app.login("positional", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        // and an optional body is an object or absent, not `[]`
        let session = app.register("arrays").await;
        let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&session.access).json(&json!([])).send().await.unwrap();
        problem(logout, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    async fn login_failures_do_not_reveal_accounts(app) {
        app.register("hopper").await;
        let unknown = problem(app.login("nobody", PASSWORD).await, StatusCode::UNAUTHORIZED).await;
        let wrong = problem(app.login("hopper", "wrong password!").await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(unknown["detail"], wrong["detail"]);
        let by_email = app.login("hopper@example.com", PASSWORD).await;
        assert_eq!(by_email.status(), StatusCode::OK, "email works too: {:?}", by_email.text().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_record_security_events_without_secrets() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await.unwrap();
    let admin = app.user_with_role("root", "admin").await;
    app.user_with_role("resa", "researcher").await;
    let victim = app.register("victim").await;
    let promote = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", victim.id)))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "agent_manager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), StatusCode::OK);
    assert_eq!(app.login("victim", "not the password").await.status(), StatusCode::UNAUTHORIZED);
    let page: Value = app.get_as("/api/v1/audit-events?limit=100", &admin.access).await.json().await.unwrap();
    let kinds: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["register", "login_failure", "login_success", "user_created", "role_change"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let text = page.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("not the password"), "no passwords in audit events");
    let failures: Value =
        app.get_as("/api/v1/audit-events?kind=login_failure", &admin.access).await.json().await.unwrap();
    assert_eq!(failures["items"][0]["detail"]["reason"], "wrong_password");
    assert_eq!(failures["items"][0]["ip"], "127.0.0.1");
}
