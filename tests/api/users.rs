//! `/api/v1/users`: admin-only account management.
use crate::both_backends;
use crate::helpers::{PASSWORD, Session, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends! {
    async fn admin_manages_users(app) {
        let admin = app.user_with_role("root", "admin").await;
        let created = app.client.post(app.url("/api/v1/users")).bearer_auth(&admin.access)
            .json(&json!({"username": "resa", "email": "resa@example.com", "password": PASSWORD, "role": "researcher"}))
            .send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let etag = created.headers()["etag"].to_str().unwrap().to_owned();
        let user: Value = created.json().await.unwrap();
        assert_eq!(user["role"], "researcher");
        assert_eq!(location, format!("/api/v1/users/{}", user["id"].as_str().unwrap()));

        let fetched = app.get_as(&location, &admin.access).await;
        assert_eq!(fetched.headers()["etag"].to_str().unwrap(), etag);

        for i in 0..3 {
            app.register(&format!("obs{i}")).await;
        }
        let page: Value = app.get_as("/api/v1/users?role=observer&limit=2", &admin.access).await.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["items"][0]["username"], "obs2", "newest first");
        let cursor = page["next_cursor"].as_str().unwrap();
        let next: Value = app.get_as(&format!("/api/v1/users?role=observer&limit=2&cursor={cursor}"), &admin.access).await.json().await.unwrap();
        assert_eq!(next["items"].as_array().unwrap().len(), 1);
        assert!(next["next_cursor"].is_null());
        for bad in ["limit=0", "limit=101", "cursor=garbage", "role=overlord", "unknown=1"] {
            let response = app.get_as(&format!("/api/v1/users?{bad}"), &admin.access).await;
            problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        assert_eq!(app.get_as("/api/v1/users?limit=100", &admin.access).await.status(), StatusCode::OK);

        // If-Match: a stale version is 412 and changes nothing
        let stale = app.client.patch(app.url(&location)).bearer_auth(&admin.access).header("if-match", "\"99\"")
            .json(&json!({"role": "observer"})).send().await.unwrap();
        problem(stale, StatusCode::PRECONDITION_FAILED).await;
        let resa = Session::from_body(app.login("resa", PASSWORD).await.json().await.unwrap());
        let demoted = app.client.patch(app.url(&location)).bearer_auth(&admin.access).header("if-match", &etag)
            .json(&json!({"role": "observer"})).send().await.unwrap();
        assert_eq!(demoted.status(), StatusCode::OK);
        assert_eq!(demoted.headers()["etag"], "\"2\"");
        // a role change ends the user's sessions on the next request
        assert_eq!(app.get_as("/api/v1/auth/me", &resa.access).await.status(), StatusCode::UNAUTHORIZED);
        let again = Session::from_body(app.login("resa", PASSWORD).await.json().await.unwrap());
        assert_eq!(again.body["user"]["role"], "observer");

        // mass assignment on update is rejected and changes nothing
        for (field, value) in [("id", json!("0190a0a0-0000-7000-8000-000000000000")), ("username", json!("renamed")), ("password_hash", json!("x"))] {
            let mut body = json!({"is_active": true});
            body[field] = value;
            let response = app.client.patch(app.url(&location)).bearer_auth(&admin.access).json(&body).send().await.unwrap();
            let error = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(error["errors"][0]["field"], field);
        }
        let unchanged: Value = app.get_as(&location, &admin.access).await.json().await.unwrap();
        assert_eq!(unchanged["username"], "resa");
        assert_eq!(unchanged["version"], 2);

        // admins cannot lock themselves out
        let own = format!("/api/v1/users/{}", admin.id);
        let demote_self = app.client.patch(app.url(&own)).bearer_auth(&admin.access).json(&json!({"role": "observer"})).send().await.unwrap();
        problem(demote_self, StatusCode::CONFLICT).await;
        let delete_self = app.client.delete(app.url(&own)).bearer_auth(&admin.access).send().await.unwrap();
        problem(delete_self, StatusCode::CONFLICT).await;

        // deactivation: sessions end and sign-in fails
        let deactivated = app.client.delete(app.url(&location)).bearer_auth(&admin.access).send().await.unwrap();
        assert_eq!(deactivated.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_as("/api/v1/auth/me", &again.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("resa", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let refresh = app.post_json("/api/v1/auth/refresh", &json!({"refresh_token": again.refresh})).await;
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);

        problem(app.get_as("/api/v1/users/0190a0a0-0000-7000-8000-000000000000", &admin.access).await, StatusCode::NOT_FOUND).await;
        // a value of the wrong type is a 422 naming the parameter, as the document says
        let body = problem(app.get_as("/api/v1/users/not-a-uuid", &admin.access).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "id");
        assert_eq!(body["errors"][0]["message"], "must be a UUID");
    }
}
