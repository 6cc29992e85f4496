//! The web frontend against the real server in development mode (`DEV_ENDPOINTS=true`), replaying
//! its traffic as ../shared/reference/frontend-contract.md records it: a page load's parallel
//! `dev-config` calls and preflights, the settings, metrics footer, agent list and knowledge graph,
//! ~10 sockets, then the user's actions — create, rename, prompt, settings changes, delete — with
//! what each socket is told. Every call must be 2xx, with the fields the frontend reads, typed as
//! it reads them. Without the flag none of these routes exist.
use crate::helpers::{Backend, Options, TestApp, problem};
use crate::ws_client::WsClient;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const ORIGIN: &str = "http://localhost:3000";

async fn dev_app(backend: Backend, extra: &[(&'static str, &str)]) -> Option<TestApp> {
    let mut options = Options::new(backend).with("DEV_ENDPOINTS", "true");
    for (key, value) in extra {
        options = options.with(key, *value);
    }
    TestApp::spawn_with(options).await
}

/// A call as the frontend's API helper makes it: from its origin, JSON, with the bearer token.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method.clone(), app.url(path)).header("origin", ORIGIN);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    assert_eq!(
        headers.get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some(ORIGIN),
        "{method} {path}"
    );
    assert_eq!(headers.get("access-control-allow-credentials").map(|v| v.to_str().unwrap()), Some("true"));
    (status, body)
}

/// `call` that must succeed; its body.
async fn ok(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let (status, body) = call(app, method.clone(), path, token, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

async fn preflight(app: &TestApp, method: &str, path: &str) {
    let response = app
        .client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", ORIGIN)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "preflight {method} {path}: {}", response.status());
    let headers = response.headers();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_ascii_lowercase()).unwrap_or_default();
    assert_eq!(header("access-control-allow-origin"), ORIGIN);
    assert_eq!(header("access-control-allow-credentials"), "true");
    assert!(header("access-control-allow-methods").contains(method.to_ascii_lowercase().as_str()), "{method} {path}");
    let allowed = header("access-control-allow-headers");
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
}

async fn dev_socket(app: &TestApp) -> WsClient {
    let url = format!("{}/api/v1/ws/dev", app.url("").replacen("http://", "ws://", 1));
    let mut socket = WsClient::open(&url, &[("origin", ORIGIN.to_owned())]).await.unwrap();
    let hello = socket.recv().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    assert!(hello["data"]["conversation_id"].is_string());
    socket
}

/// The next message of `kind` on the socket, skipping others (the knowledge-graph updates that
/// come with agent events).
async fn next_of(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let message = socket.recv().await;
        assert_ne!(message["type"], "error", "{message}");
        if message["type"] == kind {
            assert!(message["timestamp"].is_string(), "{message}");
            return message;
        }
    }
}

fn assert_frontend_agent(agent: &Value) {
    for field in ["id", "name", "type", "description", "createdAt"] {
        assert!(agent[field].is_string(), "{field}: {agent}");
    }
    assert!(["active", "idle", "error"].contains(&agent["status"].as_str().unwrap()), "{agent}");
}

async fn page_load_and_actions(backend: Backend) {
    let Some(app) = dev_app(backend, &[]).await else { return };

    // page load: 13 parallel sign-ins (no preflight: a simple GET), one account behind them all
    let configs = join_all((0..13).map(|_| ok(&app, Method::GET, "/api/v1/dev-config", None, None))).await;
    let first = &configs[0];
    assert_eq!(first["mode"], "dev");
    assert_eq!(first["features"]["auth_required"], true);
    assert_eq!(first["auth"]["type"], "bearer");
    assert!(first["auth"]["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(first["auth"]["user"]["role"], "researcher");
    let user_id = first["auth"]["user"]["id"].as_str().unwrap();
    assert!(configs.iter().all(|c| c["auth"]["user"]["id"] == user_id), "one development account");
    let token = first["auth"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT the frontend can read `exp` from");
    let token = Some(token.as_str());

    // every method and route the frontend preflights
    for (method, path) in [
        ("GET", "/api/v1/settings"),
        ("PATCH", "/api/v1/settings"),
        ("PUT", "/api/v1/settings"),
        ("DELETE", "/api/v1/settings/api-keys"),
        ("GET", "/api/v1/metrics"),
        ("GET", "/api/agents"),
        ("POST", "/api/agents"),
        ("PATCH", "/api/agents/0190b6f4-0000-7000-8000-000000000000"),
        ("DELETE", "/api/agents/0190b6f4-0000-7000-8000-000000000000"),
        ("GET", "/api/v1/knowledge-graph"),
        ("POST", "/api/process-prompt"),
    ] {
        preflight(&app, method, path).await;
    }

    let settings = join_all((0..4).map(|_| ok(&app, Method::GET, "/api/v1/settings", token, None))).await;
    for field in ["llm_provider", "llm_model", "openai_api_key", "anthropic_api_key"] {
        assert!(settings[0][field].is_string(), "{field}: {}", settings[0]);
    }
    for field in ["gnn_enabled", "debug_logs", "auto_suggest"] {
        assert!(settings[0][field].is_boolean(), "{field}: {}", settings[0]);
    }
    assert_eq!(settings[0]["openai_api_key"], "", "no key yet: the frontend shows its banner");

    // the footer: no bearer, credentials included
    let footer = ok(&app, Method::GET, "/api/v1/metrics", None, None).await;
    for field in ["cpu_usage", "memory_usage", "active_agents", "total_inferences", "uptime", "avg_free_energy"] {
        assert!(footer[field].is_number(), "{field}: {footer}");
    }
    assert!(footer["version"].is_string());
    assert_eq!((footer["active_agents"].as_i64(), footer["total_inferences"].as_i64()), (Some(0), Some(0)));
    assert!(footer["memory_usage"].as_f64().unwrap() > 0.0, "a real reading: {footer}");

    assert_eq!(ok(&app, Method::GET, "/api/agents", token, None).await, json!({ "agents": [] }));
    let graph = ok(&app, Method::GET, "/api/v1/knowledge-graph", token, None).await;
    assert_eq!((graph["nodes"].as_array().map(Vec::len), graph["edges"].as_array().map(Vec::len)), (Some(0), Some(0)));

    // the sockets one page holds, all on this replica's hub
    let mut sockets = join_all((0..10).map(|_| dev_socket(&app))).await;
    assert_eq!(app.state.realtime.sockets.len(), 10);

    // create from a description: announced on every socket
    let created = ok(
        &app,
        Method::POST,
        "/api/agents",
        token,
        Some(json!({ "description": "Explore the maze to find the exit" })),
    )
    .await;
    assert_frontend_agent(&created);
    assert_eq!(
        (created["name"].as_str(), created["type"].as_str()),
        (Some("Explore the maze to find the"), Some("basic-explorer"))
    );
    assert_eq!(created["status"], "idle");
    let id = created["id"].as_str().unwrap().to_owned();
    for socket in &mut sockets {
        let announced = next_of(socket, "agent_created").await;
        assert_eq!(announced["data"]["id"], id.as_str());
        assert_frontend_agent(&announced["data"]);
    }
    let listed = ok(&app, Method::GET, "/api/agents", token, None).await;
    assert_eq!(listed["agents"].as_array().unwrap().len(), 1);
    assert_frontend_agent(&listed["agents"][0]);

    // rename without If-Match
    let renamed = ok(&app, Method::PATCH, &format!("/api/agents/{id}"), token, Some(json!({ "name": "Scout" }))).await;
    assert_eq!(renamed["name"], "Scout");
    let update = next_of(&mut sockets[0], "agent_update").await;
    assert_eq!(
        (update["data"]["agentId"].as_str(), update["data"]["name"].as_str()),
        (Some(id.as_str()), Some("Scout"))
    );

    // stepped through /api/v1 with the same token: beliefs in the graph, figures in the footer
    ok(&app, Method::POST, &format!("/api/v1/agents/{id}/status"), token, Some(json!({ "status": "active" }))).await;
    let step =
        ok(&app, Method::POST, &format!("/api/v1/agents/{id}/step"), token, Some(json!({ "observation": [0] }))).await;
    let active = next_of(&mut sockets[1], "agent_update").await;
    assert_eq!(active["data"]["agentId"], id.as_str());
    let graph = ok(&app, Method::GET, "/api/v1/knowledge-graph", token, None).await;
    let nodes = graph["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["id"] == id.as_str() && n["type"] == "agent" && n["status"] == "active"), "{graph}");
    assert!(nodes.iter().any(|n| n["type"] == "belief" && n["probability"].is_number()), "{graph}");
    assert!(graph["edges"].as_array().unwrap().iter().any(|e| e["source"] == id.as_str() && e["type"] == "believes"));
    let footer = ok(&app, Method::GET, "/api/v1/metrics", None, None).await;
    assert_eq!((footer["active_agents"].as_i64(), footer["total_inferences"].as_i64()), (Some(1), Some(1)));
    assert_eq!(footer["avg_free_energy"].as_f64(), step["free_energy"].as_f64());

    // the goal prompt: an agent by keyword, the graph, and a system message on the conversation
    let answer = ok(
        &app,
        Method::POST,
        "/api/process-prompt",
        token,
        Some(json!({ "prompt": "Predict the next pattern in the sequence", "conversationId": "default-1733130000000", "goalPrompt": null })),
    )
    .await;
    assert_eq!(answer["conversationId"], "default-1733130000000");
    let prompted = &answer["agents"][0];
    assert_frontend_agent(prompted);
    assert_eq!(prompted["type"], "pattern-predictor");
    assert!(answer["knowledgeGraph"]["nodes"].as_array().unwrap().iter().any(|n| n["id"] == prompted["id"]));
    let message = next_of(&mut sockets[2], "message").await;
    assert_eq!(message["data"]["role"], "system");
    assert_eq!(message["data"]["conversationId"], "default-1733130000000");
    assert_eq!(message["data"]["isStreaming"], false);
    assert!(message["data"]["content"].as_str().unwrap().contains("No language model is configured"), "{message}");

    // the frontend's own socket messages are answered, or ignored — never an error
    let socket = &mut sockets[3];
    socket
        .send(json!({ "type": "prompt_submitted", "prompt_id": "p-1", "prompt": "go", "conversation_id": "c-1" }))
        .await;
    let ack = next_of(socket, "prompt_acknowledged").await;
    assert_eq!(ack["data"]["prompt_id"], "p-1");
    socket.send(json!({ "type": "simulation_step", "data": {}, "timestamp": 1 })).await;
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(next_of(socket, "pong").await["type"], "pong");
    // what is not JSON text gets the dialect's `error`, and the socket stays open
    socket.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    let error = socket.recv().await;
    assert_eq!(error["type"], "error", "{error}");
    assert!(error["data"]["message"].is_string());
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(next_of(socket, "pong").await["type"], "pong");

    // settings: a key stored sealed, shown masked, removed; PUT in camelCase replaces the rest
    let key = "sk-test-0123456789abcdef";
    let saved = ok(&app, Method::PATCH, "/api/v1/settings", token, Some(json!({ "openai_api_key": key }))).await;
    assert_eq!(saved["success"], true);
    assert_eq!(saved["settings"]["openai_api_key"], "sk-…cdef");
    let stored = app.state.store.user_settings(user_id.parse().unwrap()).await.unwrap().unwrap();
    let sealed = stored.openai_api_key.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("0123456789"), "the key is not stored in clear");
    let read = ok(&app, Method::GET, "/api/v1/settings", token, None).await;
    assert_eq!(read["openai_api_key"], "sk-…cdef");
    assert!(!read.to_string().contains(key));
    ok(&app, Method::DELETE, "/api/v1/settings/api-keys", token, None).await;
    let reset = json!({ "llmProvider": "anthropic", "llmModel": "claude-3-5-sonnet", "openaiApiKey": "",
        "anthropicApiKey": "", "gnnEnabled": false, "debugLogs": true, "autoSuggest": false });
    ok(&app, Method::PUT, "/api/v1/settings", token, Some(reset)).await;
    let read = ok(&app, Method::GET, "/api/v1/settings", token, None).await;
    assert_eq!(
        read,
        json!({ "llm_provider": "anthropic", "llm_model": "claude-3-5-sonnet", "openai_api_key": "",
            "anthropic_api_key": "", "gnn_enabled": false, "debug_logs": true, "auto_suggest": false,
            "updated_at": read["updated_at"] })
    );

    // delete: announced, gone from the list
    let (status, _) = call(&app, Method::DELETE, &format!("/api/agents/{id}"), token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deleted = next_of(&mut sockets[4], "agent_deleted").await;
    assert_eq!(deleted["data"]["agentId"], id.as_str());
    let listed = ok(&app, Method::GET, "/api/agents", token, None).await;
    assert_eq!(listed["agents"].as_array().unwrap().len(), 1, "the prompted agent remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontends_traffic_is_served_sqlite() {
    page_load_and_actions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontends_traffic_is_served_postgres() {
    page_load_and_actions(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalitions_join_the_knowledge_graph() {
    let Some(app) = dev_app(Backend::Sqlite, &[]).await else { return };
    let config = ok(&app, Method::GET, "/api/v1/dev-config", None, None).await;
    let token = config["auth"]["token"].as_str().map(str::to_owned);
    let token = token.as_deref();
    let mut socket = dev_socket(&app).await;
    let agent =
        ok(&app, Method::POST, "/api/agents", token, Some(json!({ "name": "Member", "template": "basic-explorer" })))
            .await;
    let agent_id = agent["id"].as_str().unwrap();
    ok(&app, Method::POST, &format!("/api/v1/agents/{agent_id}/status"), token, Some(json!({ "status": "active" })))
        .await;
    let coalition = ok(&app, Method::POST, "/api/v1/coalitions", token, Some(json!({ "name": "Explorers" }))).await;
    let coalition_id = coalition["id"].as_str().unwrap();
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/coalitions/{coalition_id}/members"),
        token,
        Some(json!({ "agent_id": agent_id })),
    )
    .await;

    let graph = ok(&app, Method::GET, "/api/v1/knowledge-graph", token, None).await;
    let nodes = graph["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["id"] == coalition_id && n["type"] == "coalition" && n["label"] == "Explorers"));
    let edge = graph["edges"].as_array().unwrap().iter().find(|e| e["type"] == "member_of").cloned().unwrap();
    assert_eq!((edge["source"].as_str(), edge["target"].as_str()), (Some(agent_id), Some(coalition_id)));
    assert_eq!(edge["label"], "leader", "the first member leads");

    // the socket hears the membership as a graph update carrying the coalition and its edge
    loop {
        let update = next_of(&mut socket, "knowledge_graph_update").await;
        if update["data"]["nodes"][0]["id"] == coalition_id && !update["data"]["edges"].as_array().unwrap().is_empty() {
            assert_eq!(update["data"]["edges"][0]["source"], agent_id);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_sockets_have_their_own_cap() {
    // one socket per user for everyone else: the frontend's ~10 are counted apart
    let Some(app) =
        dev_app(Backend::Sqlite, &[("WS_DEV_MAX_CONNECTIONS", "3"), ("WS_MAX_CONNECTIONS_PER_USER", "1")]).await
    else {
        return;
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(dev_socket(&app).await);
    }
    let url = format!("{}/api/v1/ws/dev", app.url("").replacen("http://", "ws://", 1));
    let refused = WsClient::open(&url, &[("origin", ORIGIN.to_owned())]).await.err().unwrap();
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["status"], 429);
    let foreign = WsClient::open(&url, &[("origin", "http://evil.example".to_owned())]).await.err().unwrap();
    assert_eq!(foreign.status, 403, "other origins may not open it");
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        if let Ok(socket) = WsClient::open(&url, &[("origin", ORIGIN.to_owned())]).await {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a closed socket frees its place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_development_account_gets_no_token() {
    let Some(app) = dev_app(Backend::Sqlite, &[]).await else { return };
    let config = ok(&app, Method::GET, "/api/v1/dev-config", None, None).await;
    let dev_id = config["auth"]["user"]["id"].as_str().unwrap().to_owned();
    let admin = app.user_with_role("boss", "admin").await;
    let promote = app
        .client
        .patch(app.url(&format!("/api/v1/users/{dev_id}")))
        .bearer_auth(&admin.access)
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), StatusCode::OK);
    // never a token with whatever role it was given since
    let refused = problem(app.get("/api/v1/dev-config").await, StatusCode::CONFLICT).await;
    assert!(refused["detail"].as_str().unwrap().contains("dev-frontend"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let Some(app) = dev_app(Backend::Sqlite, &[]).await else { return };
    let config = ok(&app, Method::GET, "/api/v1/dev-config", None, None).await;
    let token = config["auth"]["token"].as_str().unwrap();
    let send = |method: Method, path: &str, body: Value| {
        app.client.request(method, app.url(path)).bearer_auth(token).json(&body).send()
    };
    for (method, path, body) in [
        (Method::POST, "/api/agents", json!({})),
        (Method::POST, "/api/agents", json!({ "description": " " })),
        (Method::POST, "/api/agents", json!({ "description": "x".repeat(2001) })),
        (Method::POST, "/api/process-prompt", json!({ "prompt": "go", "conversationId": "no spaces" })),
        (Method::POST, "/api/process-prompt", json!({ "prompt": "go", "conversationId": "c".repeat(101) })),
        (Method::PATCH, "/api/v1/settings", json!({ "llm_model": "m".repeat(101) })),
        (Method::PATCH, "/api/v1/settings", json!({ "openai_api_key": "has space" })),
        (Method::PATCH, "/api/v1/settings", json!({ "gnn_enabled": "yes" })),
    ] {
        let response = send(method.clone(), path, body).await.unwrap();
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{method} {path}: {body}");
    }
    let agents = ok(&app, Method::GET, "/api/agents", Some(token), None).await;
    assert_eq!(agents["agents"], json!([]), "no agent was created");
    assert_eq!(
        app.state.store.user_settings(config["auth"]["user"]["id"].as_str().unwrap().parse().unwrap()).await.unwrap(),
        None
    );
    // limits hold at their edge: a 2000-character prompt and a 100-character conversation id
    let edge = json!({ "prompt": "é".repeat(2000), "conversationId": "c".repeat(100) });
    let (status, answer) = call(&app, Method::POST, "/api/process-prompt", Some(token), Some(edge)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let name = answer["agents"][0]["name"].as_str().unwrap();
    assert_eq!(name.chars().count(), 100, "the name stays within its limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_none_of_the_routes_exist() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let session = app.register("plain").await;
    for (method, path) in [
        (Method::GET, "/api/v1/dev-config"),
        (Method::GET, "/api/v1/metrics"),
        (Method::GET, "/api/agents"),
        (Method::POST, "/api/agents"),
        (Method::PATCH, "/api/agents/0190b6f4-0000-7000-8000-000000000000"),
        (Method::DELETE, "/api/agents/0190b6f4-0000-7000-8000-000000000000"),
        (Method::GET, "/api/v1/settings"),
        (Method::PUT, "/api/v1/settings"),
        (Method::PATCH, "/api/v1/settings"),
        (Method::DELETE, "/api/v1/settings/api-keys"),
        (Method::GET, "/api/v1/knowledge-graph"),
        (Method::POST, "/api/process-prompt"),
        (Method::GET, "/api/v1/ws/dev"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&session.access)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let url = format!("{}/api/v1/ws/dev", app.url("").replacen("http://", "ws://", 1));
    assert_eq!(WsClient::open(&url, &[]).await.err().unwrap().status, 404);
    assert!(app.state.store.user_by_login("dev-frontend").await.is_err(), "no development account either");
}

/// Two tabs saving different settings at once: every change is kept (each write is a versioned
/// read-change-write, retried when another came in between).
async fn concurrent_setting_changes(backend: Backend) {
    let Some(app) = dev_app(backend, &[]).await else { return };
    let config = ok(&app, Method::GET, "/api/v1/dev-config", None, None).await;
    let token = config["auth"]["token"].as_str().unwrap();
    let changes = [
        json!({ "llm_provider": "anthropic" }),
        json!({ "llm_model": "claude-3-5-sonnet" }),
        json!({ "gnn_enabled": false }),
        json!({ "debug_logs": true }),
        json!({ "auto_suggest": false }),
    ];
    let saved = join_all(
        changes.into_iter().map(|change| ok(&app, Method::PATCH, "/api/v1/settings", Some(token), Some(change))),
    )
    .await;
    assert!(saved.iter().all(|s| s["success"] == true));
    let read = ok(&app, Method::GET, "/api/v1/settings", Some(token), None).await;
    assert_eq!(
        (&read["llm_provider"], &read["llm_model"], &read["gnn_enabled"], &read["debug_logs"], &read["auto_suggest"]),
        (&json!("anthropic"), &json!("claude-3-5-sonnet"), &json!(false), &json!(true), &json!(false)),
        "{read}"
    );
    let stored = app.state.store.user_settings(config["auth"]["user"]["id"].as_str().unwrap().parse().unwrap()).await;
    assert_eq!(stored.unwrap().unwrap().version, 5, "five writes, none lost or repeated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setting_changes_are_all_kept_sqlite() {
    concurrent_setting_changes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setting_changes_are_all_kept_postgres() {
    concurrent_setting_changes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_development_account_is_used_not_duplicated() {
    let Some(app) = dev_app(Backend::Sqlite, &[]).await else { return };
    // made by another replica (or an earlier run) before this one's first sign-in
    let existing = app
        .state
        .store
        .create_user(freeagentics_store::NewUser {
            username: "dev-frontend".to_owned(),
            email: "dev-frontend@localhost".to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            role: freeagentics_core::Role::Researcher,
        })
        .await
        .unwrap();
    let config = ok(&app, Method::GET, "/api/v1/dev-config", None, None).await;
    assert_eq!(config["auth"]["user"]["id"], existing.id.to_string());
}
