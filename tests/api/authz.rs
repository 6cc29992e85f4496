//! The role × route matrix: every route, every role, compared with the policy table.
use crate::helpers::{Backend, Options, TestApp};
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
    ("POST", "/api/v1/agents", Some(Some("create_agent"))),
    ("GET", "/api/v1/agents", Some(Some("view_agents"))),
    ("GET", "/api/v1/agents/{id}", Some(Some("view_agents"))),
    ("PATCH", "/api/v1/agents/{id}", Some(Some("modify_agent"))),
    // ownership or delete_agent, decided by the handler: any signed-in user reaches it
    ("DELETE", "/api/v1/agents/{id}", Some(None)),
    ("POST", "/api/v1/agents/{id}/status", Some(Some("modify_agent"))),
    ("POST", "/api/v1/agents/{id}/step", Some(Some("modify_agent"))),
    ("GET", "/api/v1/agents/{id}/beliefs", Some(Some("view_agents"))),
    ("GET", "/api/v1/agents/{id}/history", Some(Some("view_agents"))),
    ("GET", "/api/v1/agents/{id}/metrics", Some(Some("view_agents"))),
    ("GET", "/api/v1/templates", Some(Some("view_agents"))),
    ("POST", "/api/v1/coalitions", Some(Some("create_coalition"))),
    ("GET", "/api/v1/coalitions", Some(Some("view_agents"))),
    ("POST", "/api/v1/coalitions/form", Some(Some("create_coalition"))),
    ("GET", "/api/v1/coalitions/{id}", Some(Some("view_agents"))),
    ("PATCH", "/api/v1/coalitions/{id}", Some(Some("create_coalition"))),
    ("DELETE", "/api/v1/coalitions/{id}", Some(Some("create_coalition"))),
    ("POST", "/api/v1/coalitions/{id}/status", Some(Some("create_coalition"))),
    ("POST", "/api/v1/coalitions/{id}/members", Some(Some("create_coalition"))),
    ("PATCH", "/api/v1/coalitions/{id}/members/{agent_id}", Some(Some("create_coalition"))),
    // the coalition's owner, the agent's owner or an admin, decided by the handler
    ("DELETE", "/api/v1/coalitions/{id}/members/{agent_id}", Some(None)),
    ("POST", "/api/v1/coalitions/{id}/objectives", Some(Some("create_coalition"))),
    ("PATCH", "/api/v1/coalitions/{id}/objectives/{objective_id}", Some(Some("create_coalition"))),
    ("DELETE", "/api/v1/coalitions/{id}/objectives/{objective_id}", Some(Some("create_coalition"))),
    ("POST", "/api/v1/inference/run", Some(None)),
    ("POST", "/api/v1/gmn/validate", Some(None)),
    ("GET", "/api/v1/gmn/examples", Some(None)),
    ("POST", "/api/v1/ws/ticket", Some(None)),
    // public in the table: the handler accepts a bearer token or a ticket (401 without either)
    ("GET", "/api/v1/ws", None),
    // the web frontend's development routes (DEV_ENDPOINTS)
    ("GET", "/api/v1/dev-config", None),
    ("GET", "/api/v1/metrics", None),
    ("GET", "/api/agents", Some(Some("view_agents"))),
    ("POST", "/api/agents", Some(Some("create_agent"))),
    ("PATCH", "/api/agents/{id}", Some(Some("modify_agent"))),
    ("DELETE", "/api/agents/{id}", Some(None)),
    ("GET", "/api/v1/settings", Some(None)),
    ("PATCH", "/api/v1/settings", Some(None)),
    ("PUT", "/api/v1/settings", Some(None)),
    ("DELETE", "/api/v1/settings/api-keys", Some(None)),
    ("GET", "/api/v1/knowledge-graph", Some(Some("view_agents"))),
    ("POST", "/api/process-prompt", Some(Some("create_agent"))),
    ("GET", "/api/v1/ws/dev", None),
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

/// The matrix's expectations are the route table's declared policies, row for row, so the
/// requests below test what the code declares rather than a copy that could drift from it.
#[test]
fn the_matrix_is_the_route_tables_policy() {
    use freeagentics_api::policy::{Access, RouteKind};
    let table = freeagentics_api::router::table();
    let mut matched = 0;
    for (template, method, operation) in table.operations() {
        let declared = match operation.access {
            Access::Public => None,
            Access::SignedIn => Some(None),
            Access::Permission(permission) => Some(Some(permission.as_str())),
        };
        match ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && *p == template) {
            Some((_, _, expected)) => {
                assert_eq!(*expected, declared, "{method} {template}: the matrix and the route table differ");
                matched += 1;
            }
            // undocumented routes (the spec itself, the docs UI) are public by construction
            None => assert!(
                operation.kind != RouteKind::Api || operation.access == Access::Public,
                "{method} {template} is not in the authorization matrix"
            ),
        }
    }
    let rows = ROUTES.iter().filter(|(_, path, _)| *path != "/metrics").count();
    assert!(matched >= rows, "{matched} of the matrix's {rows} rows are declared routes");
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
    // with the development routes, so they are checked too
    let Some(app) = TestApp::spawn_with(Options::new(backend).with("DEV_ENDPOINTS", "true")).await else { return };
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
