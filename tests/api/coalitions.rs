//! The coalitions API over real sockets on both profiles: lifecycle and the status machine, every
//! membership rule and its error, leader succession, dissolution on the last leave, agent deletion
//! through the rules, objective coverage and completion, reads and writes by another user,
//! formation (dry run, persisted, refused), the outbox, and on PostgreSQL the races: 20 joins for
//! one slot, one agent racing past its limit.
use crate::both_backends;
use crate::helpers::{Backend, Options, Session, TestApp, metric_value, problem};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<&Value>) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// An active agent with `capabilities`, owned by `session`; its id.
async fn agent(app: &TestApp, session: &Session, name: &str, capabilities: &[&str]) -> String {
    let body =
        json!({ "name": name, "parameters": { "width": 3, "height": 3, "horizon": 1 }, "capabilities": capabilities });
    let created =
        json_of(call(app, Method::POST, "/api/v1/agents", &session.access, Some(&body)).await, StatusCode::CREATED)
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let status = json!({ "status": "active" });
    let path = format!("/api/v1/agents/{id}/status");
    json_of(call(app, Method::POST, &path, &session.access, Some(&status)).await, StatusCode::OK).await;
    id
}

async fn coalition(app: &TestApp, session: &Session, body: &Value) -> Value {
    json_of(call(app, Method::POST, "/api/v1/coalitions", &session.access, Some(body)).await, StatusCode::CREATED).await
}

async fn join(app: &TestApp, session: &Session, coalition: &str, agent: &str, role: Option<&str>) -> Response {
    let mut body = json!({ "agent_id": agent });
    if let Some(role) = role {
        body["role"] = json!(role);
    }
    call(app, Method::POST, &format!("/api/v1/coalitions/{coalition}/members"), &session.access, Some(&body)).await
}

async fn set_status(app: &TestApp, session: &Session, coalition: &str, status: &str) -> Response {
    let body = json!({ "status": status });
    call(app, Method::POST, &format!("/api/v1/coalitions/{coalition}/status"), &session.access, Some(&body)).await
}

fn leader(view: &Value) -> &str {
    view["leader_id"].as_str().unwrap_or_default()
}

fn member_roles(view: &Value) -> Vec<(String, String)> {
    view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["agent_id"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect()
}

/// The outbox kinds of one coalition, oldest first (published or not: the relay publishes rows
/// within milliseconds of their commit).
async fn outbox(app: &TestApp, coalition: &str) -> Vec<String> {
    let events = app.state.store.topic_events(&format!("coalition:{coalition}"), 10_000).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

both_backends! {
    async fn a_coalition_lives_from_creation_to_dissolution(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let body = json!({
            "name": "North", "description": "map the north", "max_size": 4,
            "objectives": [{ "description": "map", "required_capabilities": ["map"], "priority": 0.8 }],
        });
        let created = call(&app, Method::POST, "/api/v1/coalitions", &owner.access, Some(&body)).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let tag = created.headers()["etag"].to_str().unwrap().to_owned();
        let view: Value = created.json().await.unwrap();
        let id = view["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/coalitions/{id}"));
        assert_eq!(tag, format!("\"{}\"", view["version"]));
        assert_eq!((view["status"].as_str(), view["max_size"].as_i64()), (Some("forming"), Some(4)));
        assert_eq!(view["owner_id"], owner.id.as_str());
        assert_eq!(view["objectives"][0]["required_capabilities"], json!(["map"]));
        assert_eq!(view["objectives"][0]["completed"], false);
        assert_eq!((view["performance_score"].as_f64(), view["cohesion_score"].as_f64()), (Some(0.0), Some(1.0)));
        assert!(view["leader_id"].is_null() && view["dissolved_at"].is_null());

        // activation needs a member
        let refused = problem(set_status(&app, &owner, &id, "active").await, StatusCode::CONFLICT).await;
        assert!(refused["detail"].as_str().unwrap().contains("at least one member"), "{refused}");
        let scout = agent(&app, &owner, "scout", &["map", "explore"]).await;
        let joined = json_of(join(&app, &owner, &id, &scout, None).await, StatusCode::CREATED).await;
        assert_eq!(leader(&joined), scout, "the first member leads");
        let active = json_of(set_status(&app, &owner, &id, "active").await, StatusCode::OK).await;
        assert_eq!(active["status"], "active");
        assert!((active["performance_score"].as_f64().unwrap() - 0.3).abs() < 1e-9, "0.7·0/1 + 0.3·1/1");
        let back = problem(set_status(&app, &owner, &id, "forming").await, StatusCode::CONFLICT).await;
        assert!(back["detail"].as_str().unwrap().contains("allowed from active: disbanding, dissolved"), "{back}");

        // PATCH: If-Match required, stale refused, current applied
        let patch = json!({ "name": "North-East" });
        let path = format!("/api/v1/coalitions/{id}");
        problem(call(&app, Method::PATCH, &path, &owner.access, Some(&patch)).await, StatusCode::PRECONDITION_REQUIRED).await;
        let stale = app.client.patch(app.url(&path)).bearer_auth(&owner.access).header("if-match", &tag).json(&patch).send().await.unwrap();
        problem(stale, StatusCode::PRECONDITION_FAILED).await;
        let current = format!("\"{}\"", active["version"]);
        let renamed = app.client.patch(app.url(&path)).bearer_auth(&owner.access).header("if-match", &current).json(&patch).send().await.unwrap();
        let renamed = json_of(renamed, StatusCode::OK).await;
        assert_eq!(renamed["name"], "North-East");
        let read = json_of(app.get_as(&path, &owner.access).await, StatusCode::OK).await;
        assert_eq!(read["version"], renamed["version"], "a read after a write sees it");

        // objectives: coverage, completion, automatic disbanding
        let objectives = format!("/api/v1/coalitions/{id}/objectives");
        let uncovered = json!({ "description": "fly", "required_capabilities": ["fly", "map"], "priority": 0.5 });
        let missing = problem(call(&app, Method::POST, &objectives, &owner.access, Some(&uncovered)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(missing["errors"][0]["field"], "required_capabilities");
        assert!(missing["errors"][0]["message"].as_str().unwrap().ends_with(": fly"), "{missing}");
        let covered = json!({ "description": "explore", "required_capabilities": ["explore"], "priority": 0.5 });
        let added = call(&app, Method::POST, &objectives, &owner.access, Some(&covered)).await;
        let location = added.headers()["location"].to_str().unwrap().to_owned();
        let added = json_of(added, StatusCode::CREATED).await;
        assert_eq!(location, format!("{objectives}/{}", added["id"].as_str().unwrap()), "answers the new objective");
        assert_eq!((added["description"].as_str(), added["completed"].as_bool()), (Some("explore"), Some(false)));
        let ids = [view["objectives"][0]["id"].as_str().unwrap().to_owned(), added["id"].as_str().unwrap().to_owned()];
        let done = json!({ "progress": 1.0 });
        let first = json_of(call(&app, Method::PATCH, &format!("{objectives}/{}", ids[0]), &owner.access, Some(&done)).await, StatusCode::OK).await;
        assert_eq!((first["objectives"][0]["completed"].as_bool(), first["status"].as_str()), (Some(true), Some("active")));
        assert!((first["performance_score"].as_f64().unwrap() - (0.7 * 0.5 + 0.3)).abs() < 1e-9);
        problem(call(&app, Method::PATCH, &format!("{objectives}/{}", scout), &owner.access, Some(&done)).await, StatusCode::NOT_FOUND).await;
        let bad = json!({ "progress": 1.5 });
        problem(call(&app, Method::PATCH, &format!("{objectives}/{}", ids[1]), &owner.access, Some(&bad)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        let last = json_of(call(&app, Method::PATCH, &format!("{objectives}/{}", ids[1]), &owner.access, Some(&done)).await, StatusCode::OK).await;
        assert_eq!(last["status"], "disbanding", "every objective complete");
        problem(join(&app, &owner, &id, &agent(&app, &owner, "late", &[]).await, None).await, StatusCode::CONFLICT).await;

        let dissolved = call(&app, Method::DELETE, &path, &owner.access, None).await;
        assert_eq!(dissolved.status(), StatusCode::NO_CONTENT);
        let view = json_of(app.get_as(&path, &owner.access).await, StatusCode::OK).await;
        assert_eq!(view["status"], "dissolved");
        assert!(view["dissolved_at"].is_string());
        assert_eq!(view["members"].as_array().unwrap().len(), 1, "kept as history");
        assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), StatusCode::NO_CONTENT, "idempotent");
        problem(call(&app, Method::POST, &objectives, &owner.access, Some(&covered)).await, StatusCode::CONFLICT).await;

        let listed = json_of(app.get_as(&format!("/api/v1/coalitions?status=dissolved&agent_id={scout}"), &owner.access).await, StatusCode::OK).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["member_count"], 1);
        let none = json_of(app.get_as(&format!("/api/v1/coalitions?status=active&owner_id={}", owner.id), &owner.access).await, StatusCode::OK).await;
        assert!(none["items"].as_array().unwrap().is_empty());
        problem(app.get_as("/api/v1/coalitions?status=sleeping", &owner.access).await, StatusCode::UNPROCESSABLE_ENTITY).await;

        assert_eq!(
            outbox(&app, &id).await,
            [
                "coalition.created", "coalition.member_joined", "coalition.updated", "coalition.updated",
                "coalition.objective_updated", "coalition.objective_updated", "coalition.objective_updated",
                "coalition.dissolved",
            ],
            "one event per committed change, none for refused ones"
        );
    }

    async fn every_membership_rule_and_leader_succession(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let stranger = app.user_with_role("stranger", "researcher").await;
        let c = coalition(&app, &owner, &json!({ "name": "Team", "max_size": 3 })).await;
        let id = c["id"].as_str().unwrap().to_owned();
        let a = agent(&app, &owner, "a", &["x"]).await;
        let b = agent(&app, &owner, "b", &["y"]).await;
        let d = agent(&app, &owner, "d", &["z"]).await;

        json_of(join(&app, &owner, &id, &a, Some("observer")).await, StatusCode::CREATED).await;
        json_of(join(&app, &owner, &id, &b, None).await, StatusCode::CREATED).await;
        let again = problem(join(&app, &owner, &id, &b, None).await, StatusCode::CONFLICT).await;
        assert!(again["detail"].as_str().unwrap().contains("already a member"), "{again}");
        let unknown = problem(join(&app, &owner, &id, c["id"].as_str().unwrap(), None).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(unknown["errors"][0]["field"], "agent_id");
        let theirs = agent(&app, &stranger, "theirs", &[]).await;
        problem(join(&app, &owner, &id, &theirs, None).await, StatusCode::FORBIDDEN).await;
        let stopped = agent(&app, &owner, "stopped", &[]).await;
        json_of(call(&app, Method::POST, &format!("/api/v1/agents/{stopped}/status"), &owner.access, Some(&json!({ "status": "stopped" }))).await, StatusCode::OK).await;
        let ineligible = problem(join(&app, &owner, &id, &stopped, None).await, StatusCode::CONFLICT).await;
        assert!(ineligible["detail"].as_str().unwrap().contains("stopped"), "{ineligible}");
        let led = json_of(join(&app, &owner, &id, &d, Some("leader")).await, StatusCode::CREATED).await;
        assert_eq!(member_roles(&led), [(a.clone(), "member".to_owned()), (b.clone(), "member".to_owned()), (d.clone(), "leader".to_owned())]);
        let e = agent(&app, &owner, "e", &[]).await;
        let full = problem(join(&app, &owner, &id, &e, None).await, StatusCode::CONFLICT).await;
        assert!(full["detail"].as_str().unwrap().contains("full (3 members)"), "{full}");

        // the agent limit (COALITION_MAX_PER_AGENT, 3 by default)
        for name in ["Second", "Third"] {
            let other = coalition(&app, &owner, &json!({ "name": name })).await;
            json_of(join(&app, &owner, other["id"].as_str().unwrap(), &a, None).await, StatusCode::CREATED).await;
        }
        let fourth = coalition(&app, &owner, &json!({ "name": "Fourth" })).await;
        let limit = problem(join(&app, &owner, fourth["id"].as_str().unwrap(), &a, None).await, StatusCode::CONFLICT).await;
        assert!(limit["detail"].as_str().unwrap().contains("limit is 3"), "{limit}");

        // succession: highest contribution × trust, then earliest join
        let member = |agent: &str| format!("/api/v1/coalitions/{id}/members/{agent}");
        let scores = |contribution: f64, trust: f64| json!({ "contribution": contribution, "trust": trust });
        json_of(call(&app, Method::PATCH, &member(&a), &owner.access, Some(&scores(0.5, 0.5))).await, StatusCode::OK).await;
        json_of(call(&app, Method::PATCH, &member(&b), &owner.access, Some(&scores(0.9, 0.5))).await, StatusCode::OK).await;
        problem(call(&app, Method::PATCH, &member(&b), &owner.access, Some(&json!({ "trust": 2.0 }))).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        problem(call(&app, Method::PATCH, &member(&e), &owner.access, Some(&json!({ "trust": 0.5 }))).await, StatusCode::NOT_FOUND).await;
        problem(call(&app, Method::PATCH, &member(&a), &stranger.access, Some(&json!({ "trust": 0.5 }))).await, StatusCode::FORBIDDEN).await;
        let after = json_of(call(&app, Method::DELETE, &member(&d), &owner.access, None).await, StatusCode::OK).await;
        assert_eq!(leader(&after), b, "0.45 beats 0.25");
        json_of(call(&app, Method::PATCH, &member(&b), &owner.access, Some(&scores(0.5, 0.5))).await, StatusCode::OK).await;
        let demoted = json_of(call(&app, Method::PATCH, &member(&b), &owner.access, Some(&json!({ "role": "member" }))).await, StatusCode::OK).await;
        assert_eq!(leader(&demoted), a, "a tie goes to the earlier join");

        // an agent's owner may take it out of someone else's coalition; others may not
        let foreign = coalition(&app, &stranger, &json!({ "name": "Foreign" })).await;
        let foreign_id = foreign["id"].as_str().unwrap();
        let theirs2 = agent(&app, &stranger, "theirs2", &[]).await;
        json_of(join(&app, &stranger, foreign_id, &theirs2, None).await, StatusCode::CREATED).await;
        problem(call(&app, Method::DELETE, &format!("/api/v1/coalitions/{foreign_id}/members/{theirs2}"), &owner.access, None).await, StatusCode::FORBIDDEN).await;

        // the last member out dissolves the coalition
        json_of(call(&app, Method::DELETE, &member(&a), &owner.access, None).await, StatusCode::OK).await;
        let last = json_of(call(&app, Method::DELETE, &member(&b), &owner.access, None).await, StatusCode::OK).await;
        assert_eq!(last["status"], "dissolved");
        problem(call(&app, Method::DELETE, &member(&b), &owner.access, None).await, StatusCode::CONFLICT).await;
        let kinds = outbox(&app, &id).await;
        assert_eq!(kinds[kinds.len() - 2..], ["coalition.member_left", "coalition.dissolved"]);
        // a dissolved coalition frees the slot it held
        json_of(join(&app, &owner, fourth["id"].as_str().unwrap(), &a, None).await, StatusCode::CREATED).await;
    }

    async fn deleting_an_agent_leaves_its_coalitions(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let solo = coalition(&app, &owner, &json!({ "name": "Solo" })).await;
        let duo = coalition(&app, &owner, &json!({ "name": "Duo" })).await;
        let (solo, duo) = (solo["id"].as_str().unwrap().to_owned(), duo["id"].as_str().unwrap().to_owned());
        let a = agent(&app, &owner, "a", &[]).await;
        let b = agent(&app, &owner, "b", &[]).await;
        json_of(join(&app, &owner, &solo, &a, None).await, StatusCode::CREATED).await;
        json_of(join(&app, &owner, &duo, &a, None).await, StatusCode::CREATED).await;
        json_of(join(&app, &owner, &duo, &b, None).await, StatusCode::CREATED).await;
        // warm the cache: an agent's status change and its deletion must both invalidate it
        let before = json_of(app.get_as(&format!("/api/v1/coalitions/{duo}"), &owner.access).await, StatusCode::OK).await;
        assert!((before["performance_score"].as_f64().unwrap() - 0.3).abs() < 1e-9, "both members active");
        json_of(call(&app, Method::POST, &format!("/api/v1/agents/{b}/status"), &owner.access, Some(&json!({ "status": "paused" }))).await, StatusCode::OK).await;
        let paused = json_of(app.get_as(&format!("/api/v1/coalitions/{duo}"), &owner.access).await, StatusCode::OK).await;
        assert_eq!(paused["members"][1]["agent_status"], "paused");
        assert!((paused["performance_score"].as_f64().unwrap() - 0.15).abs() < 1e-9, "one of two members active");

        assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/agents/{a}"), &owner.access, None).await.status(), StatusCode::NO_CONTENT);
        let solo_view = json_of(app.get_as(&format!("/api/v1/coalitions/{solo}"), &owner.access).await, StatusCode::OK).await;
        assert_eq!(solo_view["status"], "dissolved");
        let duo_view = json_of(app.get_as(&format!("/api/v1/coalitions/{duo}"), &owner.access).await, StatusCode::OK).await;
        assert_eq!(member_roles(&duo_view), [(b.clone(), "leader".to_owned())]);
        assert_eq!(outbox(&app, &duo).await.last().map(String::as_str), Some("coalition.member_left"));
    }

    async fn others_read_but_do_not_write(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let other = app.user_with_role("other", "researcher").await;
        let observer = app.user_with_role("watcher", "observer").await;
        let c = coalition(&app, &owner, &json!({ "name": "Mine" })).await;
        let path = format!("/api/v1/coalitions/{}", c["id"].as_str().unwrap());
        json_of(app.get_as(&path, &observer.access).await, StatusCode::OK).await;
        json_of(app.get_as("/api/v1/coalitions", &other.access).await, StatusCode::OK).await;
        problem(call(&app, Method::POST, "/api/v1/coalitions", &observer.access, Some(&json!({ "name": "x" }))).await, StatusCode::FORBIDDEN).await;
        let tagged = app.client.patch(app.url(&path)).bearer_auth(&other.access).header("if-match", "*").json(&json!({ "name": "theirs" })).send().await.unwrap();
        problem(tagged, StatusCode::FORBIDDEN).await;
        problem(set_status(&app, &other, c["id"].as_str().unwrap(), "dissolved").await, StatusCode::FORBIDDEN).await;
        problem(call(&app, Method::DELETE, &path, &other.access, None).await, StatusCode::FORBIDDEN).await;
        let objective = json!({ "description": "x", "priority": 0.5 });
        problem(call(&app, Method::POST, &format!("{path}/objectives"), &other.access, Some(&objective)).await, StatusCode::FORBIDDEN).await;
        // an admin may change anyone's
        let admin = app.user_with_role("boss", "admin").await;
        assert_eq!(call(&app, Method::DELETE, &path, &admin.access, None).await.status(), StatusCode::NO_CONTENT);
        // limits at their edges
        let name = "n".repeat(100);
        coalition(&app, &owner, &json!({ "name": name, "description": "d".repeat(2000), "max_size": 100 })).await;
        for bad in [
            json!({ "name": "n".repeat(101) }),
            json!({ "name": "ok", "description": "d".repeat(2001) }),
            json!({ "name": "ok", "max_size": 0 }),
            json!({ "name": "ok", "max_size": 101 }),
            json!({ "name": "ok", "objectives": [{ "description": "x", "priority": 1.5 }] }),
        ] {
            problem(call(&app, Method::POST, "/api/v1/coalitions", &owner.access, Some(&bad)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    }

    async fn formation_forms_persists_and_refuses(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let mut agents = Vec::new();
        for (name, capabilities) in [("nav", &["navigation"][..]), ("eye", &["sensing"][..]), ("both", &["navigation", "sensing"][..]), ("cook", &["cooking"][..])] {
            agents.push(agent(&app, &owner, name, capabilities).await);
        }
        let objectives = json!([
            { "description": "survey", "required_capabilities": ["navigation", "sensing"], "priority": 0.9 },
            { "description": "fly", "required_capabilities": ["flying"], "priority": 0.5 },
        ]);
        let dry = json!({ "objectives": objectives, "strategy": "greedy", "dry_run": true });
        let plan = json_of(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&dry)).await, StatusCode::OK).await;
        assert_eq!(plan["candidates"], 4, "every active agent of the caller");
        assert_eq!(plan["coalitions"].as_array().unwrap().len(), 1, "nobody can fly");
        assert_eq!(plan["coalitions"][0]["objectives"], json!([0]));
        assert_eq!(plan["coalitions"][0]["covers_objectives"], true);
        assert!(plan["coalitions"][0]["coalition"].is_null(), "a dry run persists nothing");
        assert_eq!(plan["objective_coverage"][1]["coalition"], Value::Null);
        assert_eq!(plan["objective_coverage"][1]["missing_capabilities"], json!(["flying"]));
        assert!(plan["unassigned_agents"].as_array().unwrap().iter().any(|a| a == agents[3].as_str()));
        let listed = json_of(app.get_as("/api/v1/coalitions", &owner.access).await, StatusCode::OK).await;
        assert!(listed["items"].as_array().unwrap().is_empty());

        let real = json!({ "objectives": objectives, "strategy": "optimal" });
        let formed = json_of(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&real)).await, StatusCode::CREATED).await;
        let persisted = &formed["coalitions"][0]["coalition"];
        assert_eq!(persisted["status"], "active");
        assert_eq!(persisted["objectives"][0]["description"], "survey");
        assert_eq!(persisted["leader_id"], formed["coalitions"][0]["leader_id"]);
        let id = persisted["id"].as_str().unwrap();
        assert_eq!(outbox(&app, id).await, ["coalition.formed"]);
        let read = json_of(app.get_as(&format!("/api/v1/coalitions/{id}"), &owner.access).await, StatusCode::OK).await;
        assert_eq!(read["members"], persisted["members"]);

        // refusals: unknown agents, someone else's agent, optimal beyond its size, bad input
        let other = app.user_with_role("other", "researcher").await;
        let theirs = agent(&app, &other, "theirs", &["navigation"]).await;
        let explicit = json!({ "objectives": objectives, "agent_ids": [agents[0], theirs] });
        problem(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&explicit)).await, StatusCode::FORBIDDEN).await;
        let unknown = json!({ "objectives": objectives, "agent_ids": [agents[0], id] });
        let refused = problem(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&unknown)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(refused["errors"][0]["field"], "agent_ids[1]");
        let many: Vec<Value> = (0..9).map(|i| json!({ "description": format!("o{i}"), "required_capabilities": ["navigation"], "priority": 0.5 })).collect();
        let too_large = json!({ "objectives": many, "strategy": "optimal" });
        let refused = problem(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&too_large)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains("at most"), "{refused}");
        let no_capability = json!({ "objectives": [{ "description": "x", "priority": 0.5 }] });
        problem(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&no_capability)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        problem(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&json!({ "objectives": [] }))).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

impl TestApp {
    async fn spawn_coalitions(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(Options::new(backend).with("COALITION_MAX_PER_AGENT", "2")).await
    }
}

/// `COALITION_MAX_PER_AGENT` set to 2 is the limit joins are checked against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_limit_is_configurable() {
    let Some(app) = TestApp::spawn_coalitions(Backend::Sqlite).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    let a = agent(&app, &owner, "a", &[]).await;
    for i in 0..2 {
        let c = coalition(&app, &owner, &json!({ "name": format!("c{i}") })).await;
        json_of(join(&app, &owner, c["id"].as_str().unwrap(), &a, None).await, StatusCode::CREATED).await;
    }
    let c = coalition(&app, &owner, &json!({ "name": "c2" })).await;
    let refused = problem(join(&app, &owner, c["id"].as_str().unwrap(), &a, None).await, StatusCode::CONFLICT).await;
    assert!(refused["detail"].as_str().unwrap().contains("belongs to 2 coalitions, its limit is 2"), "{refused}");
}

/// `freeagentics_coalition_formations_total` counts each run by strategy and outcome (this label
/// pair is used by no other test in the binary, so the delta is this test's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formations_are_counted_and_timed() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    agent(&app, &owner, "nav", &["navigation"]).await;
    let series = r#"freeagentics_coalition_formations_total{strategy="hierarchical",outcome="dry_run"}"#;
    let before = metric_value(&app.state.metrics.render(), series).unwrap_or(0.0);
    let body = json!({
        "objectives": [{ "description": "go", "required_capabilities": ["navigation"], "priority": 0.5 }],
        "strategy": "hierarchical", "dry_run": true,
    });
    for _ in 0..3 {
        json_of(call(&app, Method::POST, "/api/v1/coalitions/form", &owner.access, Some(&body)).await, StatusCode::OK)
            .await;
    }
    let exposition = app.state.metrics.render();
    assert_eq!(metric_value(&exposition, series), Some(before + 3.0));
    assert!(exposition.contains("freeagentics_coalition_formation_duration_seconds"), "the duration is recorded");
}

/// 20 concurrent joins for one free slot: exactly one wins; one agent joining 6 coalitions at once
/// with a limit of 2: exactly two succeed (PostgreSQL, where the requests truly run in parallel).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_joins_never_overcommit() {
    let Some(app) = TestApp::spawn_coalitions(Backend::Postgres).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    let c = coalition(&app, &owner, &json!({ "name": "One seat", "max_size": 1 })).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let mut agents = Vec::new();
    for i in 0..20 {
        agents.push(agent(&app, &owner, &format!("r{i}"), &[]).await);
    }
    let results = futures_util::future::join_all(agents.iter().map(|a| join(&app, &owner, &id, a, None))).await;
    let statuses: Vec<StatusCode> = results.iter().map(Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
    let view = json_of(app.get_as(&format!("/api/v1/coalitions/{id}"), &owner.access).await, StatusCode::OK).await;
    assert_eq!(view["members"].as_array().unwrap().len(), 1);

    let runner = agent(&app, &owner, "runner", &[]).await;
    let mut targets = Vec::new();
    for i in 0..6 {
        targets.push(
            coalition(&app, &owner, &json!({ "name": format!("t{i}") })).await["id"].as_str().unwrap().to_owned(),
        );
    }
    let results = futures_util::future::join_all(targets.iter().map(|t| join(&app, &owner, t, &runner, None))).await;
    let won = results.iter().filter(|r| r.status() == StatusCode::CREATED).count();
    assert_eq!(won, 2, "never past COALITION_MAX_PER_AGENT");
    let member_of =
        json_of(app.get_as(&format!("/api/v1/coalitions?agent_id={runner}"), &owner.access).await, StatusCode::OK)
            .await;
    assert_eq!(member_of["items"].as_array().unwrap().len(), 2);
}
