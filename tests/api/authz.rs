//! The role × route matrix: every route, every role, compared with the policy table.
use crate::helpers::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Who may call each route: `None` = public, `Some(None)` = any signed-in user,
/// `Some(Some(p))` = needs permission `p`.
const ROUTES: &[(&str, &str, Option<Option<&str>>)] = &[
    ("GET", "/health", None),
    ("GET", "/api/v1/health", None),
    ("GET", "/metrics", None),
    ("POST", "/api/v1/auth/register", None),
    ("POST", "/api/v1/auth/login", None),
    ("POST", "/api/v1/auth/refresh", None),
    ("POST", "/api/v1/auth/logout", Some(None)),
    ("GET", "/api/v1/auth/me", Some(None)),
    ("POST", "/api/v1/auth/password", Some(None)),
    ("GET", "/api/v1/users", Some(Some("admin_system"))),
    ("POST", "/api/v1/users", Some(Some("admin_system"))),
    ("GET", "/api/v1/users/{id}", Some(Some("admin_system"))),
    ("PATCH", "/api/v1/users/{id}", Some(Some("admin_system"))),
    ("DELETE", "/api/v1/users/{id}", Some(Some("admin_system"))),
    ("GET", "/api/v1/audit-events", Some(Some("admin_system"))),
];

const ROLES: [(&str, &[&str]); 4] = [
    (
        "admin",
        &[
            "create_agent",
            "delete_agent",
            "view_agents",
            "modify_agent",
            "create_coalition",
            "view_metrics",
            "admin_system",
        ],
    ),
    ("researcher", &["create_agent", "view_agents", "modify_agent", "create_coalition", "view_metrics"]),
    ("agent_manager", &["create_agent", "view_agents", "modify_agent", "view_metrics"]),
    ("observer", &["view_agents", "view_metrics"]),
];

#[test]
fn every_documented_route_is_in_the_matrix() {
    let spec = serde_json::to_value(freeagentics_api::router::spec()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            assert!(
                ROUTES.iter().any(|(m, p, _)| *m == method && *p == path),
                "{method} {path} is not in the authorization matrix"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix_matches_the_policy_table_sqlite() {
    role_route_matrix(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix_matches_the_policy_table_postgres() {
    role_route_matrix(Backend::Postgres).await;
}

async fn role_route_matrix(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let target = app.register("target").await;
    for (role, permissions) in ROLES {
        let session = app.user_with_role(&format!("as-{role}"), role).await;
        let me: serde_json::Value = app.get_as("/api/v1/auth/me", &session.access).await.json().await.unwrap();
        assert_eq!(me["permissions"], json!(permissions), "{role}");
        for (method, path, rule) in ROUTES {
            let Some(Some(permission)) = rule else { continue };
            let url = app.url(&path.replace("{id}", &target.id));
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            // an empty JSON object gets past authorization; only the admin's DELETE changes
            // anything (it deactivates `target`, which no later request depends on)
            let response = app
                .client
                .request(method.clone(), url)
                .bearer_auth(&session.access)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let allowed = permissions.contains(permission);
            if allowed {
                let status = response.status();
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED && !status.is_server_error(),
                    "{role} {method} {path}: {status}"
                );
            } else {
                assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role} {method} {path}");
            }
        }
    }
    // anonymous: every non-public route is 401 with WWW-Authenticate
    for (method, path, rule) in ROUTES {
        if rule.is_none() {
            continue;
        }
        let url = app.url(&path.replace("{id}", &target.id));
        let response = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "anonymous {method} {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
}
