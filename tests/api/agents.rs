//! The agents API over real sockets on both profiles: lifecycle and every transition, stepping,
//! ownership, pagination under concurrent inserts, `If-Match`, idempotency, concurrent steps,
//! history pruning, the outbox row of every change, limits; and read-after-write across two
//! server processes on one PostgreSQL and one Redis.
use crate::both_backends;
use crate::helpers::{Backend, Options, Replicas, Session, TestApp, problem};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A 4×4 grid explorer planning one step ahead: quick to build and to step in a debug build.
fn small_grid() -> Value {
    json!({ "width": 4, "height": 4, "horizon": 1 })
}

fn new_agent(name: &str) -> Value {
    json!({ "name": name, "template": "basic-explorer", "parameters": small_grid(), "capabilities": ["explore"] })
}

impl TestApp {
    async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> Response {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Creates an agent and returns its body.
    async fn create_agent(&self, token: &str, body: &Value) -> Value {
        let response = self.send(reqwest::Method::POST, "/api/v1/agents", token, Some(body)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn set_status(&self, token: &str, id: &str, status: &str) -> Response {
        let path = format!("/api/v1/agents/{id}/status");
        self.send(reqwest::Method::POST, &path, token, Some(&json!({ "status": status }))).await
    }

    async fn step(&self, token: &str, id: &str, observation: &[u64]) -> Response {
        let path = format!("/api/v1/agents/{id}/step");
        self.send(reqwest::Method::POST, &path, token, Some(&json!({ "observation": observation }))).await
    }

    async fn agent(&self, token: &str, id: &str) -> Value {
        let response = self.get_as(&format!("/api/v1/agents/{id}"), token).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The outbox rows written for `agent` so far, oldest first.
    async fn outbox(&self, agent: &str) -> Vec<(String, Value)> {
        // published or not: the relay publishes rows within milliseconds of their commit
        let events = self.state.store.topic_events(&format!("agent:{agent}"), 10_000).await.unwrap();
        events.into_iter().map(|e| (e.kind, e.payload)).collect()
    }
}

fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn assert_distribution(q: &Value) {
    let sum: f64 = q.as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9, "{q} sums to {sum}");
}

both_backends! {
    async fn an_agent_lives_from_creation_to_deletion(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let created = app.send(reqwest::Method::POST, "/api/v1/agents", &owner.access, Some(&new_agent("scout"))).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let tag = etag(&created);
        let agent: Value = created.json().await.unwrap();
        let id = agent["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/agents/{id}"));
        assert_eq!(agent["status"], "pending");
        assert_eq!(agent["owner_id"], owner.id.as_str());
        assert_eq!(agent["template"], "basic-explorer");
        assert_eq!(agent["capabilities"], json!(["explore"]));
        assert_eq!(agent["step_count"], 0);
        assert_eq!(tag, format!("\"{}\"", agent["version"]));

        let read = app.get_as(&location, &owner.access).await;
        assert_eq!(etag(&read), tag);
        assert_eq!(read.json::<Value>().await.unwrap()["name"], "scout");
        let beliefs: Value = app.get_as(&format!("{location}/beliefs"), &owner.access).await.json().await.unwrap();
        assert_eq!(beliefs["step_count"], 0);
        assert_eq!(beliefs["beliefs"].as_array().unwrap().len(), 1, "one hidden-state factor");
        assert_eq!(beliefs["beliefs"][0].as_array().unwrap().len(), 16, "one state per cell");
        assert_eq!(beliefs["policies"].as_array().unwrap().len(), 5, "five moves at horizon 1");

        // a pending agent is not stepped
        let refused = problem(app.step(&owner.access, &id, &[0]).await, StatusCode::CONFLICT).await;
        assert!(refused["detail"].as_str().unwrap().contains("pending"), "{refused}");

        assert_eq!(app.set_status(&owner.access, &id, "active").await.status(), StatusCode::OK);
        let stepped = app.step(&owner.access, &id, &[4]).await;
        assert_eq!(stepped.status(), StatusCode::OK);
        let step: Value = stepped.json().await.unwrap();
        assert_eq!(step["step"], 1);
        assert_eq!(step["action"].as_array().unwrap().len(), 1);
        assert!(step["action"][0].as_u64().unwrap() < 5);
        assert_distribution(&step["beliefs"][0]);
        assert_distribution(&step["policy_posterior"]);
        assert_eq!(step["expected_free_energy"].as_array().unwrap().len(), 5);
        assert!(step["free_energy"].is_f64() && step["entropy"].is_f64());
        assert!(step["timing"]["inference_ms"].as_f64().unwrap() >= 0.0);
        assert!(step["timing"]["total_ms"].as_f64().unwrap() >= step["timing"]["inference_ms"].as_f64().unwrap());

        let beliefs: Value = app.get_as(&format!("{location}/beliefs"), &owner.access).await.json().await.unwrap();
        assert_eq!(beliefs["beliefs"], step["beliefs"], "the beliefs the step left");
        assert_eq!(beliefs["last_action"], step["action"]);
        let history: Value = app.get_as(&format!("{location}/history"), &owner.access).await.json().await.unwrap();
        assert_eq!(history["items"].as_array().unwrap().len(), 1);
        assert_eq!(history["items"][0]["observation"], json!([4]));
        assert_eq!(history["items"][0]["action"], step["action"]);
        assert_eq!(history["items"][0]["free_energy"], step["free_energy"]);
        let metrics: Value = app.get_as(&format!("{location}/metrics"), &owner.access).await.json().await.unwrap();
        assert_eq!(metrics["step_count"], 1);
        assert_eq!(metrics["status"], "active");
        assert_eq!(metrics["last_free_energy"], step["free_energy"]);
        assert!(metrics["last_active_at"].is_string());
        assert!(metrics["mean_step_ms"].as_f64().unwrap() > 0.0);

        // paused: not stepped; active again: stepped; stopped: never again
        assert_eq!(app.set_status(&owner.access, &id, "paused").await.status(), StatusCode::OK);
        problem(app.step(&owner.access, &id, &[0]).await, StatusCode::CONFLICT).await;
        assert_eq!(app.set_status(&owner.access, &id, "active").await.status(), StatusCode::OK);
        assert_eq!(app.step(&owner.access, &id, &[0]).await.status(), StatusCode::OK);
        assert_eq!(app.set_status(&owner.access, &id, "stopped").await.status(), StatusCode::OK);
        problem(app.step(&owner.access, &id, &[0]).await, StatusCode::CONFLICT).await;
        assert_eq!(app.agent(&owner.access, &id).await["step_count"], 2);

        let deleted = app.send(reqwest::Method::DELETE, &location, &owner.access, None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        problem(app.get_as(&location, &owner.access).await, StatusCode::NOT_FOUND).await;
        problem(app.get_as(&format!("{location}/history"), &owner.access).await, StatusCode::NOT_FOUND).await;

        // one outbox row per committed change, each carrying the agent as the API rendered it
        let kinds: Vec<String> = app.outbox(&id).await.into_iter().map(|(kind, _)| kind).collect();
        let expected = [
            "agent.created", "agent.status_changed", "agent.stepped", "agent.status_changed",
            "agent.status_changed", "agent.stepped", "agent.status_changed", "agent.deleted",
        ];
        assert_eq!(kinds, expected);
        let outbox = app.outbox(&id).await;
        assert_eq!(outbox[0].1["name"], "scout");
        assert_eq!(outbox[2].1["step_count"], 1);
        assert_eq!(outbox[6].1["status"], "stopped");
    }

    async fn every_status_transition_is_allowed_or_refused_naming_the_allowed_targets(app) {
        let owner = app.user_with_role("owner", "agent_manager").await;
        // how to reach each status from `pending`, and where each may go
        let paths: [(&str, &[&str], &[&str]); 5] = [
            ("pending", &[], &["active", "stopped", "error"]),
            ("active", &["active"], &["paused", "stopped", "error"]),
            ("paused", &["active", "paused"], &["active", "stopped", "error"]),
            ("stopped", &["stopped"], &["error"]),
            ("error", &["error"], &[]),
        ];
        for (from, path, allowed) in paths {
            for to in ["pending", "active", "paused", "stopped", "error"] {
                let agent = app.create_agent(&owner.access, &new_agent(&format!("{from}-{to}"))).await;
                let id = agent["id"].as_str().unwrap();
                for status in path {
                    assert_eq!(app.set_status(&owner.access, id, status).await.status(), StatusCode::OK);
                }
                let response = app.set_status(&owner.access, id, to).await;
                if allowed.contains(&to) {
                    assert_eq!(response.status(), StatusCode::OK, "{from} → {to}");
                    assert_eq!(response.json::<Value>().await.unwrap()["status"], to);
                } else {
                    let body = problem(response, StatusCode::CONFLICT).await;
                    let names = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
                    assert!(
                        body["detail"].as_str().unwrap().ends_with(&format!("allowed from {from}: {names}")),
                        "{from} → {to}: {body}"
                    );
                    assert_eq!(app.agent(&owner.access, id).await["status"], from, "a refused move changes nothing");
                }
            }
        }
        let bad = app.set_status(&owner.access, &uuid::Uuid::now_v7().to_string(), "sleeping").await;
        problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    async fn other_users_read_but_do_not_change_an_agent(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let other = app.user_with_role("other", "researcher").await;
        let observer = app.user_with_role("watcher", "observer").await;
        let admin = app.user_with_role("boss", "admin").await;
        let agent = app.create_agent(&owner.access, &new_agent("mine")).await;
        let id = agent["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/agents/{id}");
        let tag = format!("\"{}\"", agent["version"]);

        for reader in [&other, &observer] {
            assert_eq!(app.agent(&reader.access, &id).await["name"], "mine");
            for part in ["beliefs", "history", "metrics"] {
                assert_eq!(app.get_as(&format!("{path}/{part}"), &reader.access).await.status(), StatusCode::OK);
            }
        }
        let patch = |token: String| {
            let request = app.client.patch(app.url(&path)).bearer_auth(token).header("if-match", tag.clone());
            request.json(&json!({ "name": "theirs" })).send()
        };
        problem(patch(other.access.clone()).await.unwrap(), StatusCode::FORBIDDEN).await;
        problem(app.set_status(&other.access, &id, "active").await, StatusCode::FORBIDDEN).await;
        problem(app.send(reqwest::Method::DELETE, &path, &other.access, None).await, StatusCode::FORBIDDEN).await;
        // observers lack `create_agent` and `modify_agent` altogether
        problem(app.send(reqwest::Method::POST, "/api/v1/agents", &observer.access, Some(&new_agent("no"))).await, StatusCode::FORBIDDEN).await;
        problem(app.set_status(&observer.access, &id, "active").await, StatusCode::FORBIDDEN).await;
        assert_eq!(app.set_status(&owner.access, &id, "active").await.status(), StatusCode::OK);
        problem(app.step(&other.access, &id, &[0]).await, StatusCode::FORBIDDEN).await;
        let unchanged = app.agent(&owner.access, &id).await;
        assert_eq!((unchanged["name"].as_str(), unchanged["step_count"].as_i64()), (Some("mine"), Some(0)));

        // an unknown id is 404 for reads and writes alike
        let unknown = format!("/api/v1/agents/{}", uuid::Uuid::now_v7());
        problem(app.get_as(&unknown, &owner.access).await, StatusCode::NOT_FOUND).await;
        problem(app.set_status(&owner.access, &unknown[15..], "active").await, StatusCode::NOT_FOUND).await;
        problem(app.send(reqwest::Method::DELETE, &unknown, &owner.access, None).await, StatusCode::NOT_FOUND).await;
        problem(app.get_as("/api/v1/agents/not-a-uuid", &owner.access).await, StatusCode::UNPROCESSABLE_ENTITY).await;

        // admins change anyone's agent; deleting needs ownership or `delete_agent`
        let tag = format!("\"{}\"", app.agent(&owner.access, &id).await["version"]);
        let renamed = app.client.patch(app.url(&path)).bearer_auth(&admin.access).header("if-match", tag)
            .json(&json!({ "name": "renamed by admin" })).send().await.unwrap();
        assert_eq!(renamed.status(), StatusCode::OK);
        assert_eq!(app.send(reqwest::Method::DELETE, &path, &admin.access, None).await.status(), StatusCode::NO_CONTENT);
    }

    async fn updates_require_the_current_version(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let agent = app.create_agent(&owner.access, &new_agent("versioned")).await;
        let path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
        let first = format!("\"{}\"", agent["version"]);
        let patch = |tag: Option<&str>, body: Value| {
            let mut request = app.client.patch(app.url(&path)).bearer_auth(&owner.access).json(&body);
            if let Some(tag) = tag {
                request = request.header("if-match", tag);
            }
            request.send()
        };
        problem(patch(None, json!({ "name": "blind" })).await.unwrap(), StatusCode::PRECONDITION_REQUIRED).await;
        let changed = patch(Some(&first), json!({ "name": "seen", "capabilities": ["map"] })).await.unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let second = etag(&changed);
        assert_ne!(second, first);
        let body: Value = changed.json().await.unwrap();
        assert_eq!((body["name"].clone(), body["capabilities"].clone()), (json!("seen"), json!(["map"])));
        // a change based on the first version lost the race: refused, nothing merged
        problem(patch(Some(&first), json!({ "name": "stale" })).await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
        problem(patch(Some("\"not-a-version\""), json!({ "name": "junk" })).await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
        assert_eq!(app.agent(&owner.access, agent["id"].as_str().unwrap()).await["name"], "seen");
        // edges of the name and an empty change
        let longest = "n".repeat(100);
        assert_eq!(patch(Some(&second), json!({ "name": longest })).await.unwrap().status(), StatusCode::OK);
        let current = format!("\"{}\"", app.agent(&owner.access, agent["id"].as_str().unwrap()).await["version"]);
        for body in [json!({ "name": "n".repeat(101) }), json!({ "name": "" }), json!({})] {
            problem(patch(Some(&current), body).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    }

    async fn lists_page_without_duplicates_or_gaps_while_agents_are_created(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let other = app.user_with_role("other", "researcher").await;
        let mut before = HashSet::new();
        for i in 0..23 {
            let agent = app.create_agent(&owner.access, &new_agent(&format!("first-{i:02}"))).await;
            before.insert(agent["id"].as_str().unwrap().to_owned());
        }
        let query = format!("/api/v1/agents?owner_id={}&limit=5", owner.id);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        loop {
            let path = match &cursor { Some(c) => format!("{query}&cursor={c}"), None => query.clone() };
            let page: Value = app.get_as(&path, &owner.access).await.json().await.unwrap();
            seen.extend(page["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
            // agents created between pages are newer than every page still to come
            for _ in 0..3 {
                app.create_agent(&owner.access, &new_agent(&format!("later-{inserted:02}"))).await;
                inserted += 1;
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no agent twice");
        assert_eq!(unique, before, "every agent that existed when paging began, nothing else");

        // the filters, each alone
        app.create_agent(&other.access, &json!({ "name": "predictor", "template": "pattern-predictor" })).await;
        let app = &app;
        let count = |path: String| {
            let token = owner.access.clone();
            async move { app.get_as(&path, &token).await.json::<Value>().await.unwrap()["items"].as_array().unwrap().len() }
        };
        assert_eq!(count(format!("/api/v1/agents?owner_id={}&limit=100", other.id)).await, 1);
        assert_eq!(count("/api/v1/agents?template=pattern-predictor".to_owned()).await, 1);
        assert_eq!(count("/api/v1/agents?name_prefix=first-1&limit=100".to_owned()).await, 10);
        assert_eq!(count("/api/v1/agents?status=pending&limit=100".to_owned()).await, 23 + inserted + 1);
        assert_eq!(count("/api/v1/agents?status=active".to_owned()).await, 0);
        // limits at their edges
        assert_eq!(count("/api/v1/agents?limit=100".to_owned()).await, 23 + inserted + 1);
        for bad in ["limit=0", "limit=101", "status=asleep", "cursor=short", "name_prefix="] {
            problem(app.get_as(&format!("/api/v1/agents?{bad}"), &owner.access).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        // text filters: 100 characters at most, and no control characters (PostgreSQL cannot even
        // compare text holding a NUL): 422 naming the parameter, never a store error
        let prefix = "é".repeat(100);
        assert_eq!(count(format!("/api/v1/agents?name_prefix={prefix}")).await, 0);
        for (bad, field) in [
            (format!("name_prefix={prefix}e"), "name_prefix"),
            ("name_prefix=a%00b".to_owned(), "name_prefix"),
            ("template=basic%1Fexplorer".to_owned(), "template"),
        ] {
            let refused = problem(app.get_as(&format!("/api/v1/agents?{bad}"), &owner.access).await, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(refused["errors"][0]["field"], field, "{bad}: {refused}");
        }
    }

    async fn create_and_step_honour_idempotency_keys(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let create = |key: &'static str, name: &'static str| {
            app.client.post(app.url("/api/v1/agents")).bearer_auth(&owner.access)
                .header("idempotency-key", key).json(&new_agent(name)).send()
        };
        let first = create("create-1", "once").await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first: Value = first.json().await.unwrap();
        let again = create("create-1", "once").await.unwrap();
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"].to_str().unwrap(), format!("/api/v1/agents/{}", first["id"].as_str().unwrap()));
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        let other_body = problem(create("create-1", "twice").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(other_body["errors"][0]["field"], "Idempotency-Key", "{other_body}");

        // concurrent duplicates: one runs, the others wait for it and replay its answer
        let racing = futures_util::future::join_all((0..6).map(|_| create("create-2", "raced"))).await;
        let ids: HashSet<String> = futures_util::future::join_all(racing.into_iter().map(|r| async move {
            let r = r.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        })).await.into_iter().collect();
        assert_eq!(ids.len(), 1);
        let page: Value = app.get_as(&format!("/api/v1/agents?owner_id={}", owner.id), &owner.access).await.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "two keys, two agents");

        let id = first["id"].as_str().unwrap();
        assert_eq!(app.set_status(&owner.access, id, "active").await.status(), StatusCode::OK);
        let step = |key: &'static str, observation: u64| {
            app.client.post(app.url(&format!("/api/v1/agents/{id}/step"))).bearer_auth(&owner.access)
                .header("idempotency-key", key).json(&json!({ "observation": [observation] })).send()
        };
        let stepped: Value = step("step-1", 0).await.unwrap().json().await.unwrap();
        let replayed = step("step-1", 0).await.unwrap();
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        assert_eq!(replayed.json::<Value>().await.unwrap(), stepped);
        problem(step("step-1", 1).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        let racing = futures_util::future::join_all((0..4).map(|_| step("step-2", 2))).await;
        for response in racing {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(app.agent(&owner.access, id).await["step_count"], 2, "each key stepped once");
        // keys belong to their user: another user's identical key is a different request
        let other = app.user_with_role("other", "researcher").await;
        let theirs = app.client.post(app.url("/api/v1/agents")).bearer_auth(&other.access)
            .header("idempotency-key", "create-1").json(&new_agent("once")).send().await.unwrap();
        assert_eq!(theirs.status(), StatusCode::CREATED);
        assert_ne!(theirs.json::<Value>().await.unwrap()["id"], first["id"]);
        // key edges: 255 visible ASCII characters, not 256
        let longest = "k".repeat(255);
        let at_edge = app.client.post(app.url("/api/v1/agents")).bearer_auth(&owner.access)
            .header("idempotency-key", &longest).json(&new_agent("edge")).send().await.unwrap();
        assert_eq!(at_edge.status(), StatusCode::CREATED);
        let over = app.client.post(app.url("/api/v1/agents")).bearer_auth(&owner.access)
            .header("idempotency-key", format!("{longest}k")).json(&new_agent("edge")).send().await.unwrap();
        let refused = problem(over, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(refused["errors"][0]["field"], "Idempotency-Key", "{refused}");
    }

    async fn concurrent_steps_never_lose_an_update(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let agent = app.create_agent(&owner.access, &new_agent("busy")).await;
        let id = agent["id"].as_str().unwrap();
        assert_eq!(app.set_status(&owner.access, id, "active").await.status(), StatusCode::OK);
        let responses = futures_util::future::join_all((0..8).map(|i| {
            let app = &app;
            let token = owner.access.clone();
            async move { app.step(&token, id, &[i % 5]).await }
        })).await;
        let mut steps = Vec::new();
        for response in responses {
            match response.status() {
                StatusCode::OK => steps.push(response.json::<Value>().await.unwrap()["step"].as_i64().unwrap()),
                // refused, saying why: it was overtaken too often
                status => {
                    let body = problem(response, StatusCode::CONFLICT).await;
                    assert!(body["detail"].as_str().unwrap().contains("overtook"), "{status}: {body}");
                }
            }
        }
        steps.sort_unstable();
        let expected: Vec<i64> = (1..=i64::try_from(steps.len()).unwrap()).collect();
        assert_eq!(steps, expected, "every accepted step has its own number, none skipped");
        assert_eq!(app.agent(&owner.access, id).await["step_count"], steps.len());
        let history: Value =
            app.get_as(&format!("/api/v1/agents/{id}/history?limit=100"), &owner.access).await.json().await.unwrap();
        assert_eq!(history["items"].as_array().unwrap().len(), steps.len());
    }

    async fn observations_and_models_outside_the_limits_are_refused(app) {
        let owner = app.user_with_role("owner", "researcher").await;
        let agent = app.create_agent(&owner.access, &new_agent("strict")).await;
        let id = agent["id"].as_str().unwrap();
        assert_eq!(app.set_status(&owner.access, id, "active").await.status(), StatusCode::OK);
        for observation in [json!([5]), json!([0, 0]), json!([]), json!([-1])] {
            let path = format!("/api/v1/agents/{id}/step");
            let response = app.send(reqwest::Method::POST, &path, &owner.access, Some(&json!({ "observation": observation }))).await;
            problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        assert_eq!(app.step(&owner.access, id, &[4]).await.status(), StatusCode::OK, "the largest outcome index");
        assert_eq!(app.agent(&owner.access, id).await["step_count"], 1);

        let app = &app;
        let token = owner.access.clone();
        let create = |body: Value| {
            let token = token.clone();
            async move { app.send(reqwest::Method::POST, "/api/v1/agents", &token, Some(&body)).await }
        };
        let invalid_gmn = problem(create(json!({ "name": "g", "template": "gmn_agent", "gmn_spec": "[nodes]\nnonsense" })).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(invalid_gmn["errors"][0]["field"].as_str().unwrap().starts_with("gmn_spec"), "{invalid_gmn}");
        let too_wide = problem(create(json!({ "name": "w", "parameters": { "width": 65 } })).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(too_wide["errors"][0]["field"], "parameters.width", "{too_wide}");
        problem(create(json!({ "name": "t", "template": "no-such-template" })).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        problem(create(json!({ "name": "n".repeat(101) })).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(create(json!({ "name": "n".repeat(100), "parameters": small_grid() })).await.status(), StatusCode::CREATED);

        // an agent from a GMN example steps like any other
        let examples: Value = app.get_as("/api/v1/gmn/examples", &owner.access).await.json().await.unwrap();
        let example = &examples["items"][0];
        let validated = app.send(reqwest::Method::POST, "/api/v1/gmn/validate", &owner.access, Some(&json!({ "spec": example["text"] }))).await;
        assert_eq!(validated.status(), StatusCode::OK);
        assert_eq!(validated.json::<Value>().await.unwrap()["valid"], true);
        let gmn = app.create_agent(&owner.access, &json!({ "name": "from-gmn", "gmn_spec": example["json"] })).await;
        assert_eq!(gmn["template"], "gmn_agent");

        let templates: Value = app.get_as("/api/v1/templates", &owner.access).await.json().await.unwrap();
        let explorer = templates["items"].as_array().unwrap().iter().find(|t| t["name"] == "basic-explorer").unwrap();
        let width = explorer["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "width").unwrap();
        assert_eq!((width["default"].clone(), width["max"].clone()), (json!(20), json!(64.0)));
    }
}

/// Steps beyond `AGENT_HISTORY_LIMIT` push the oldest out; the counters still count every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_pruned_to_its_limit_sqlite() {
    history_is_pruned_to_its_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_pruned_to_its_limit_postgres() {
    history_is_pruned_to_its_limit(Backend::Postgres).await;
}

async fn history_is_pruned_to_its_limit(backend: Backend) {
    let options = Options::new(backend).with("AGENT_HISTORY_LIMIT", "3");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    let agent = app.create_agent(&owner.access, &new_agent("forgetful")).await;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(app.set_status(&owner.access, id, "active").await.status(), StatusCode::OK);
    for observation in 0..5 {
        assert_eq!(app.step(&owner.access, id, &[observation]).await.status(), StatusCode::OK);
    }
    let path = format!("/api/v1/agents/{id}/history?limit=2");
    let first: Value = app.get_as(&path, &owner.access).await.json().await.unwrap();
    let steps = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|s| s["step"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(steps(&first), [5, 4]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app.get_as(&format!("{path}&cursor={cursor}"), &owner.access).await.json().await.unwrap();
    assert_eq!(steps(&second), [3], "steps 1 and 2 were pruned");
    assert!(second["next_cursor"].is_null());
    assert_eq!(second["items"][0]["observation"], json!([2]));
    assert_eq!(app.agent(&owner.access, id).await["step_count"], 5);
}

/// A step that cannot finish within `INFERENCE_STEP_TIMEOUT_MS` is a 503 with `Retry-After`, and
/// nothing of it is kept: the agent is where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_time_budget_is_503_and_changes_nothing() {
    let options = Options::new(Backend::Sqlite).with("INFERENCE_STEP_TIMEOUT_MS", "10");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    // 3,125 policies over 400 states: far more than 10 ms of work
    let big = json!({ "name": "slow", "template": "basic-explorer",
        "parameters": { "width": 20, "height": 20, "horizon": 5 } });
    let agent = app.create_agent(&owner.access, &big).await;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(app.set_status(&owner.access, id, "active").await.status(), StatusCode::OK);
    let response = app.step(&owner.access, id, &[0]).await;
    assert!(response.headers().contains_key("retry-after"), "{:?}", response.headers());
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let after = app.agent(&owner.access, id).await;
    assert_eq!(after["step_count"], 0);
    assert_eq!(after["version"], agent["version"].as_i64().unwrap() + 1, "only the status change");
}

/// The inference routes take bodies up to `INFERENCE_MAX_BODY_BYTES`; every other route keeps
/// `MAX_BODY_BYTES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_bodies_have_their_own_limit() {
    let options = Options::new(Backend::Sqlite).with("MAX_BODY_BYTES", "1024").with("INFERENCE_MAX_BODY_BYTES", "4096");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    let owner = app.user_with_role("owner", "researcher").await;
    // `{"spec":"…"}` of exactly `size` bytes
    let body = |size: usize| format!("{{\"spec\":\"{}\"}}", "x".repeat(size - 11));
    let send = |path: &'static str, body: String| {
        app.client
            .post(app.url(path))
            .bearer_auth(&owner.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // within the limit, the spec itself is what is wrong
    problem(send("/api/v1/gmn/validate", body(4096)).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    problem(send("/api/v1/gmn/validate", body(4097)).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    problem(send("/api/v1/auth/password", body(1025)).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    problem(send("/api/v1/gmn/validate", body(1025)).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// A change made through one replica is what the other serves next, although the other had the
/// agent in its in-process cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_is_read_on_the_other() {
    let Some(replicas) = Replicas::start().await else { return };
    let (a, b, client, session) = (&replicas.a, &replicas.b, &replicas.client, &replicas.admin);
    let agent = replicas.create(a, &new_agent("replicated")).await;
    let read_b = || async {
        let url = format!("{}/api/v1/agents/{}", b.base, agent["id"].as_str().unwrap());
        client.get(url).bearer_auth(&session.access).send().await.unwrap().json::<Value>().await.unwrap()
    };
    // B reads the agent (now in B's in-process layer) straight after A created it
    assert_eq!(read_b().await["version"], agent["version"]);
    assert_eq!(read_b().await["name"], "replicated");
    let tag = format!("\"{}\"", agent["version"]);
    let url = format!("{}/api/v1/agents/{}", a.base, agent["id"].as_str().unwrap());
    let changed = client
        .patch(url)
        .bearer_auth(&session.access)
        .header("if-match", tag)
        .json(&json!({ "name": "renamed on A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let written = Instant::now();
    loop {
        let seen = read_b().await;
        if seen["name"] == "renamed on A" {
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(1), "B still serves {seen} a second after the write");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A replica steps an agent from the engine state its own last step left (no read before the
/// write), and a change made through the other replica in between is never stepped over: a pause
/// on B stops A's next step at once, and after B's step A continues from B's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_steps_from_the_state_it_kept_until_another_changes_the_agent() {
    let Some(replicas) = Replicas::start().await else { return };
    let (a, b, client, session) = (&replicas.a, &replicas.b, &replicas.client, &replicas.admin);
    let agent = replicas.create(a, &new_agent("kept")).await;
    let id = agent["id"].as_str().unwrap();
    let post = |on: &crate::helpers::Process, path: &str, body: Value| {
        let url = format!("{}/api/v1/agents/{id}{path}", on.base);
        let request = client.post(url).bearer_auth(&session.access).json(&body);
        async move { request.send().await.unwrap() }
    };
    let step =
        |on: &crate::helpers::Process, observation: u64| post(on, "/step", json!({ "observation": [observation] }));
    let hits = "freeagentics_cache_requests_total{cache=\"agent_state\",result=\"hit_local\"}";
    assert_eq!(post(a, "/status", json!({ "status": "active" })).await.status(), StatusCode::OK);

    let first: Value = step(a, 0).await.json().await.unwrap();
    assert_eq!(first["step"], 1);
    let before = a.metric(client, hits).await;
    let second: Value = step(a, 1).await.json().await.unwrap();
    assert_eq!(second["step"], 2);
    assert_eq!(a.metric(client, hits).await - before, 1.0, "A's second step started from the state it kept");

    // paused through B: A's next step is refused at once, whatever A kept
    assert_eq!(post(b, "/status", json!({ "status": "paused" })).await.status(), StatusCode::OK);
    let refused = problem(step(a, 2).await, StatusCode::CONFLICT).await;
    assert!(refused["detail"].as_str().unwrap().contains("paused"), "{refused}");
    assert_eq!(post(b, "/status", json!({ "status": "active" })).await.status(), StatusCode::OK);

    // stepped through B, then through A: A continues from B's step
    let on_b: Value = step(b, 2).await.json().await.unwrap();
    assert_eq!(on_b["step"], 3);
    let on_a = step(a, 3).await;
    assert_eq!(on_a.status(), StatusCode::OK);
    let on_a: Value = on_a.json().await.unwrap();
    assert_eq!(on_a["step"], 4);
    assert_eq!(on_a["version"], on_b["version"].as_i64().unwrap() + 1, "A wrote over B's step, not beside it");
    let url = format!("{}/api/v1/agents/{id}/history?limit=10", b.base);
    let history: Value = client.get(url).bearer_auth(&session.access).send().await.unwrap().json().await.unwrap();
    let observations: Vec<&Value> = history["items"].as_array().unwrap().iter().map(|s| &s["observation"]).collect();
    assert_eq!(observations, [&json!([3]), &json!([2]), &json!([1]), &json!([0])], "every step kept, in order");
}

/// With the caches off (or Redis unreachable), an authenticated read of an agent reads the
/// account and the agent in one query, and answers as the two reads did: the agent, 404 for an
/// unknown one, 401 for a deactivated account. PostgreSQL, then the embedded profile.
#[tokio::test]
async fn an_uncached_read_of_an_agent_is_one_query() {
    let Some(replicas) = Replicas::start_with(&[("CACHE_ENABLED", "false")]).await else { return };
    uncached_read_is_one_query(&replicas.a, &replicas.client, &replicas.admin).await;

    let embedded = [("CACHE_ENABLED", "false")];
    let (process, admin) = crate::helpers::Process::spawn_signed_in(&embedded).await;
    uncached_read_is_one_query(&process, &replicas.client, &admin).await;
}

async fn uncached_read_is_one_query(at: &crate::helpers::Process, client: &reqwest::Client, admin: &Session) {
    let create = client.post(format!("{}/api/v1/agents", at.base)).bearer_auth(&admin.access).json(&new_agent("read"));
    let created: Value = create.send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let queries =
        |operation: &str| format!("freeagentics_db_query_duration_seconds_count{{operation=\"{operation}\"}}");
    let counts = || async {
        let mut counts = Vec::new();
        for operation in ["user_and_agent", "user_by_id", "agent_by_id"] {
            counts.push(at.metric(client, &queries(operation)).await);
        }
        counts.push(at.metric(client, "freeagentics_cache_requests_total{cache=\"agent\",result=\"bypass\"}").await);
        counts
    };
    let get = |path: String, token: &str| client.get(format!("{}{path}", at.base)).bearer_auth(token).send();

    let before = counts().await;
    let read = get(format!("/api/v1/agents/{id}"), &admin.access).await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["etag"], "\"1\"");
    let body: Value = read.json().await.unwrap();
    assert_eq!(body, created, "the same agent as the create answered");
    let after = counts().await;
    let delta: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [1.0, 0.0, 0.0, 1.0], "one joint query, neither single read; counted as a bypass");

    let unknown = get(format!("/api/v1/agents/{}", uuid::Uuid::now_v7()), &admin.access).await.unwrap();
    problem(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(at.metric(client, &queries("user_and_agent")).await - after[0], 1.0);

    // a deactivated account is refused on this path as on every other
    let body = json!({ "username": "reader", "email": "reader@example.com", "password": crate::helpers::PASSWORD });
    let register = client.post(format!("{}/api/v1/auth/register", at.base)).json(&body).send().await.unwrap();
    assert_eq!(register.status(), StatusCode::CREATED);
    let reader = Session::from_body(register.json().await.unwrap());
    assert_eq!(get(format!("/api/v1/agents/{id}"), &reader.access).await.unwrap().status(), StatusCode::OK);
    let deactivate = client
        .patch(format!("{}/api/v1/users/{}", at.base, reader.id))
        .bearer_auth(&admin.access)
        .json(&json!({ "is_active": false }));
    assert_eq!(deactivate.send().await.unwrap().status(), StatusCode::OK);
    let refused = get(format!("/api/v1/agents/{id}"), &reader.access).await.unwrap();
    problem(refused, StatusCode::UNAUTHORIZED).await;
}
