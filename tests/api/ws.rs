//! WebSockets over real sockets with a real client, on both profiles (the embedded one uses the
//! in-process bus): every handshake refusal, tickets, subscriptions and their authorization, an
//! event for each agent change, bad messages, resume, heartbeat, the connection cap, a slow
//! reader, revocation and shutdown.
use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, problem};
use crate::ws_client::{WsClient, ws_url};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn new_agent(name: &str) -> Value {
    json!({ "name": name, "template": "basic-explorer", "parameters": { "width": 4, "height": 4, "horizon": 1 } })
}

async fn spawn(backend: Backend, env: &[(&'static str, &str)]) -> Option<TestApp> {
    let mut options = Options::new(backend);
    for (key, value) in env {
        options = options.with(key, *value);
    }
    TestApp::spawn_with(options).await
}

impl TestApp {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn ws(&self, token: &str) -> WsClient {
        WsClient::connect(&self.base(), token).await
    }

    async fn new_agent(&self, token: &str, name: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/agents"))
            .bearer_auth(token)
            .json(&new_agent(name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn agent_call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// `n` coalitions owned by `owner`, written through the store (quicker than the API for many);
    /// their topics.
    async fn coalition_topics(&self, owner: &str, n: usize) -> Vec<String> {
        let mut topics = Vec::with_capacity(n);
        for i in 0..n {
            let new = freeagentics_store::NewCoalition {
                id: uuid::Uuid::now_v7(),
                owner_id: owner.parse().unwrap(),
                name: format!("c{i}"),
                description: String::new(),
                max_size: 5,
                objectives: Vec::new(),
            };
            let created =
                self.state.store.create_coalition(new, &freeagentics_api::coalitions::events::of).await.unwrap();
            topics.push(format!("coalition:{}", created.coalition.id));
        }
        topics
    }

    async fn ticket(&self, token: &str) -> String {
        let response = self.client.post(self.url("/api/v1/ws/ticket")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 30);
        body["ticket"].as_str().unwrap().to_owned()
    }
}

/// The four changes after creation, in order, with increasing ids; returns the last id.
async fn changes_in_order(socket: &mut WsClient, id: &str, after: u64) -> u64 {
    let mut previous = after;
    for kind in ["agent.updated", "agent.status_changed", "agent.stepped", "agent.deleted"] {
        let event = socket.event().await;
        assert_eq!(event["event"], kind);
        assert_eq!(event["topic"], format!("agent:{id}"));
        let event_id = event["id"].as_u64().unwrap();
        assert!(event_id > previous, "ids increase: {event_id} after {previous}");
        previous = event_id;
        match kind {
            "agent.updated" => assert_eq!(event["data"]["name"], "renamed"),
            "agent.status_changed" => assert_eq!(event["data"]["status"], "active"),
            "agent.stepped" => assert_eq!(event["data"]["step_count"], 1),
            _ => assert_eq!(event["data"]["id"], id),
        }
    }
    previous
}

fn close_code(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> u16 {
    u16::from(frame.expect("a Close frame").code)
}

both_backends! {
    async fn every_handshake_refusal_comes_before_the_upgrade(app) {
        let user = app.register("ws-refusals").await;
        let url = ws_url(&app.base(), "");
        let refused = WsClient::open(&url, &[]).await.err().unwrap();
        assert_eq!(refused.status, 401);
        let bad = WsClient::open(&url, &[("authorization", "Bearer not-a-token".to_owned())]).await.err().unwrap();
        assert_eq!(bad.status, 401);
        let origin = [("authorization", format!("Bearer {}", user.access)), ("origin", "https://evil.example".to_owned())];
        assert_eq!(WsClient::open(&url, &origin).await.err().unwrap().status, 403);
        let allowed = [("authorization", format!("Bearer {}", user.access)), ("origin", "http://localhost:3000".to_owned())];
        assert!(WsClient::open(&url, &allowed).await.is_ok());
        // a plain GET is not an upgrade
        let plain = app.get_as("/api/v1/ws", &user.access).await;
        problem(plain, StatusCode::BAD_REQUEST).await;
        let unknown_ticket = ws_url(&app.base(), &format!("?ticket={}", "a".repeat(43)));
        assert_eq!(WsClient::open(&unknown_ticket, &[]).await.err().unwrap().status, 401);
        let malformed_ticket = ws_url(&app.base(), "?ticket=short");
        assert_eq!(WsClient::open(&malformed_ticket, &[]).await.err().unwrap().status, 422);
    }

    async fn a_ticket_opens_one_socket_once(app) {
        let user = app.register("ws-ticket").await;
        problem(app.client.post(app.url("/api/v1/ws/ticket")).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
        let ticket = app.ticket(&user.access).await;
        let url = ws_url(&app.base(), &format!("?ticket={ticket}"));
        let mut socket = WsClient::open(&url, &[]).await.unwrap();
        socket.send(json!({ "type": "ping" })).await;
        assert_eq!(socket.recv().await, json!({ "type": "pong" }));
        let again = WsClient::open(&url, &[]).await.err().unwrap();
        assert_eq!(again.status, 401, "{:?}", again.body);
    }

    async fn subscriptions_are_authorized_like_the_reads_they_mirror(app) {
        let observer = app.register("ws-observer").await;
        let owner = app.user_with_role("ws-owner", "agent_manager").await;
        let agent = app.new_agent(&owner.access, "watched").await;
        let id = agent["id"].as_str().unwrap();
        let mut socket = app.ws(&observer.access).await;
        let coalition = app.coalition_topics(&owner.id, 1).await.remove(0);
        let missing = format!("agent:{}", uuid::Uuid::now_v7());
        let no_coalition = format!("coalition:{}", uuid::Uuid::now_v7());
        let topics = ["agents", &format!("agent:{id}"), "coalitions", &coalition, "system", "nonsense", &missing, &no_coalition];
        let answers = socket.subscribe(&topics).await;
        assert_eq!(answers[0], json!({ "type": "error", "code": "unknown_topic", "message": "no such topic", "topic": "nonsense" }));
        assert_eq!(answers[1]["code"], "unknown_topic");
        assert_eq!(answers[1]["topic"], missing);
        assert_eq!(answers[2]["code"], "unknown_topic");
        assert_eq!(answers[2]["topic"], no_coalition);
        let granted = json!(["agents", format!("agent:{id}"), "coalitions", coalition, "system"]);
        assert_eq!(answers[3], json!({ "type": "subscribed", "topics": granted }));
        socket.send(json!({ "type": "unsubscribe", "topics": ["agents"] })).await;
        // the agent's own event may arrive first: the relay may publish it after the subscription
        let mut answer = socket.recv().await;
        while answer["type"] == "event" {
            assert_eq!(answer["event"], "agent.created");
            answer = socket.recv().await;
        }
        assert_eq!(answer, json!({ "type": "unsubscribed", "topics": ["agents"] }));

        // every role holds view_agents today, so no role is refused a topic here; the refusal
        // path is covered by `Topic::authorize`'s match (forbidden without the permission)
    }

    async fn each_agent_change_reaches_its_subscribers_after_the_rest_call(app) {
        let owner = app.user_with_role("ws-events", "agent_manager").await;
        let watcher = app.register("ws-watcher").await;
        let mut all = app.ws(&watcher.access).await;
        all.subscribe(&["agents"]).await;
        let agent = app.new_agent(&owner.access, "lively").await;
        let id = agent["id"].as_str().unwrap().to_owned();
        let created = all.event().await;
        assert_eq!(created["event"], "agent.created");
        assert_eq!(created["topic"], format!("agent:{id}"));
        assert_eq!(created["data"], agent);
        assert!(created["ts"].is_string());
        let mut one = app.ws(&watcher.access).await;
        one.subscribe(&[&format!("agent:{id}")]).await;

        let path = format!("/api/v1/agents/{id}");
        let patch = app.client.patch(app.url(&path)).bearer_auth(&owner.access)
            .header("if-match", format!("\"{}\"", agent["version"])).json(&json!({ "name": "renamed" }))
            .send().await.unwrap();
        assert_eq!(patch.status(), StatusCode::OK);
        app.agent_call(reqwest::Method::POST, &format!("{path}/status"), &owner.access, Some(json!({ "status": "active" }))).await;
        let step = app.agent_call(reqwest::Method::POST, &format!("{path}/step"), &owner.access, Some(json!({ "observation": [0] }))).await;
        app.agent_call(reqwest::Method::DELETE, &path, &owner.access, None).await;
        assert!(step["free_energy"].is_number());
        let last = changes_in_order(&mut all, &id, created["id"].as_u64().unwrap()).await;
        changes_in_order(&mut one, &id, 0).await;
        assert!(last > created["id"].as_u64().unwrap());
        assert!(all.silent_for(Duration::from_millis(200)).await);
    }

    async fn bad_messages_get_errors_and_oversized_ones_close_the_socket(app) {
        let user = app.register("ws-bad").await;
        let mut socket = app.ws(&user.access).await;
        for bad in ["not json", r#"{"type":"dance"}"#, r#"{"type":"subscribe"}"#, r#"{"type":"resume","after":-1}"#, "[]"] {
            socket.send_raw(Message::text(bad)).await;
            let answer = socket.recv().await;
            assert_eq!(answer["type"], "error", "{bad}");
            assert_eq!(answer["code"], "invalid_message", "{bad}");
        }
        socket.send_raw(Message::binary(vec![1, 2, 3])).await;
        assert_eq!(socket.recv().await["code"], "invalid_message");
        socket.send(json!({ "type": "resume", "after": 0 })).await;
        assert_eq!(socket.recv().await["code"], "not_subscribed");
        // the connection survived all of that
        socket.send(json!({ "type": "ping" })).await;
        assert_eq!(socket.recv().await, json!({ "type": "pong" }));
        // exactly at the limit is accepted (and is not a valid message); one byte more closes
        let padding = |total: usize| {
            let frame = r#"{"type":"ping","x":""}"#;
            format!(r#"{{"type":"ping","x":"{}"}}"#, "a".repeat(total - frame.len()))
        };
        socket.send_raw(Message::text(padding(64 * 1024))).await;
        assert_eq!(socket.recv().await["code"], "invalid_message");
        socket.send_raw(Message::text(padding(64 * 1024 + 1))).await;
        assert_eq!(close_code(socket.closed().await), 1009);
    }

    async fn resume_replays_exactly_the_missed_events(app) {
        let owner = app.user_with_role("ws-resume", "agent_manager").await;
        let mut socket = app.ws(&owner.access).await;
        socket.subscribe(&["agents"]).await;
        let first = app.new_agent(&owner.access, "before").await;
        let seen = socket.event().await;
        assert_eq!(seen["data"]["id"], first["id"]);
        drop(socket);
        let mut missed = Vec::new();
        for name in ["missed-1", "missed-2", "missed-3"] {
            missed.push(app.new_agent(&owner.access, name).await["id"].clone());
        }
        let mut back = app.ws(&owner.access).await;
        back.subscribe(&["agents"]).await;
        back.send(json!({ "type": "resume", "after": seen["id"] })).await;
        for id in &missed {
            let event = back.event().await;
            assert_eq!(event["event"], "agent.created");
            assert_eq!(&event["data"]["id"], id);
        }
        assert!(back.silent_for(Duration::from_millis(300)).await, "nothing twice, nothing more");
        // a position the bus never had cannot be resumed
        back.send(json!({ "type": "resume", "after": 1_000_000_000u64 })).await;
        assert_eq!(back.recv().await, json!({ "type": "resync_required", "topic": "agents" }));
        // and live events carry on after it
        let later = app.new_agent(&owner.access, "later").await;
        assert_eq!(back.event().await["data"]["id"], later["id"]);
    }

    async fn a_revoked_token_ends_its_socket(app) {
        let user = app.register("ws-revoked").await;
        let mut socket = app.ws(&user.access).await;
        socket.subscribe(&["system"]).await;
        let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&user.access)
            .json(&json!({ "refresh_token": user.refresh })).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let started = std::time::Instant::now();
        let frame = socket.closed().await;
        assert_eq!(close_code(frame), 4001);
        // WS_AUTH_RECHECK_SECONDS (1) plus the cache's invalidation bound
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    async fn shutdown_closes_every_socket_with_1001(app) {
        let user = app.register("ws-shutdown").await;
        let mut first = app.ws(&user.access).await;
        let mut second = app.ws(&user.access).await;
        second.subscribe(&["agents"]).await;
        app.begin_shutdown();
        assert_eq!(close_code(first.closed().await), 1001);
        assert_eq!(close_code(second.closed().await), 1001);
        app.stop().await.unwrap();
    }
}

async fn heartbeat(backend: Backend) {
    let env = [("WS_HEARTBEAT_INTERVAL_SECONDS", "0.2"), ("WS_PONG_TIMEOUT_SECONDS", "1")];
    let Some(app) = spawn(backend, &env).await else { return };
    let user = app.register("ws-heartbeat").await;
    let mut live = app.ws(&user.access).await;
    let mut mute = app.ws(&user.access).await;
    // the live client reads (so its library answers each ping) and sees the pings arrive
    let reading = tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut pings = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, live.stream.next()).await {
            if message.is_ping() {
                pings += 1;
            }
        }
        (live, pings)
    });
    // the mute one reads nothing, so answers nothing: the server gives up on it
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(close_code(mute.closed_skipping(false).await), 4008);
    let (mut live, pings) = reading.await.unwrap();
    assert!(pings >= 5, "{pings} pings in 2.5 s at a 0.2 s interval");
    live.send(json!({ "type": "ping" })).await;
    assert_eq!(live.recv().await, json!({ "type": "pong" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_sqlite() {
    heartbeat(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_postgres() {
    heartbeat(Backend::Postgres).await;
}

async fn connection_cap(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_MAX_CONNECTIONS_PER_USER", "2")]).await else { return };
    let user = app.register("ws-cap").await;
    let other = app.register("ws-cap-other").await;
    let first = app.ws(&user.access).await;
    let _second = app.ws(&user.access).await;
    let url = ws_url(&app.base(), "");
    let third = WsClient::open(&url, &[("authorization", format!("Bearer {}", user.access))]).await.err().unwrap();
    assert_eq!(third.status, 429);
    // the cap is per user
    let _others = app.ws(&other.access).await;
    drop(first);
    let reopened = crate::helpers::eventually(|| async {
        WsClient::open(&url, &[("authorization", format!("Bearer {}", user.access))]).await.is_ok()
    })
    .await;
    assert!(reopened, "a closed socket frees its place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_sqlite() {
    connection_cap(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_postgres() {
    connection_cap(Backend::Postgres).await;
}

async fn message_rate(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_MAX_MESSAGES_PER_MINUTE", "5")]).await else { return };
    let user = app.register("ws-rate").await;
    let mut socket = app.ws(&user.access).await;
    for _ in 0..5 {
        socket.send(json!({ "type": "ping" })).await;
        assert_eq!(socket.recv().await["type"], "pong");
    }
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(close_code(socket.closed().await), 4029);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_rate_sqlite() {
    message_rate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_rate_postgres() {
    message_rate(Backend::Postgres).await;
}

async fn expired_ticket(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_TICKET_TTL_SECONDS", "1")]).await else { return };
    let user = app.register("ws-expired").await;
    let response = app.client.post(app.url("/api/v1/ws/ticket")).bearer_auth(&user.access).send().await.unwrap();
    let ticket: Value = response.json().await.unwrap();
    assert_eq!(ticket["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let url = ws_url(&app.base(), &format!("?ticket={}", ticket["ticket"].as_str().unwrap()));
    assert_eq!(WsClient::open(&url, &[]).await.err().unwrap().status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ticket_is_refused_sqlite() {
    expired_ticket(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ticket_is_refused_postgres() {
    expired_ticket(Backend::Postgres).await;
}

/// A client that stops reading is closed (1008) once its send queue fills, while one that reads
/// keeps receiving every event.
async fn slow_reader(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_SEND_QUEUE", "4")]).await else { return };
    let owner = app.user_with_role("ws-slow", "agent_manager").await;
    let mut fast = app.ws(&owner.access).await;
    fast.subscribe(&["agents"]).await;
    // the slow client's socket buffers are small, so the server's writes stall quickly
    let slow_socket = tokio::net::TcpSocket::new_v4().unwrap();
    slow_socket.set_recv_buffer_size(4096).unwrap();
    let stream = slow_socket.connect(app.addr).await.unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url(&app.base(), ""))
            .unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", owner.access).parse().unwrap());
    let (stream, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await.unwrap();
    let mut slow = WsClient { stream };
    slow.subscribe(&["agents"]).await;
    // large events (the GMN spec is echoed, padded with a comment to near its 100 KiB limit):
    // ~9.5 MB in all, more than the socket
    // buffers, the library's buffer and the queue together hold; the fast client reads meanwhile
    let examples: Value = app.get_as("/api/v1/gmn/examples", &owner.access).await.json().await.unwrap();
    let spec = format!("# {}\n{}", "x".repeat(95_000), examples["items"][0]["text"].as_str().unwrap());
    let total = 100;
    let writer = {
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/agents"), owner.access.clone());
        tokio::spawn(async move {
            for i in 0..total {
                let body = json!({ "name": format!("slow-{i}"), "gmn_spec": spec });
                let response = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        })
    };
    for i in 0..total {
        let event = fast.event().await;
        assert_eq!(event["data"]["name"], format!("slow-{i}"));
    }
    writer.await.unwrap();
    // the server gives up on the slow one once its queue stayed full for a second: wait for that
    // before reading, or reading would make room in time (the fast client can finish first)
    let only_the_fast_one =
        crate::helpers::wait_until(Duration::from_secs(10), || async { app.state.realtime.sockets.len() == 1 }).await;
    assert!(only_the_fast_one, "the slow reader's socket was not closed");
    // the slow one was cut off: it gets what was already on its way, then the end (with the
    // Close frame when the server could still write it)
    let mut received = 0;
    let end = loop {
        match slow.next_within(crate::ws_client::WAIT).await {
            Some(Message::Text(_)) => received += 1,
            Some(Message::Close(frame)) => break frame,
            _ => break None,
        }
    };
    assert!(received < total, "the slow reader got {received} of {total}: it was not closed");
    if let Some(frame) = end {
        assert_eq!(u16::from(frame.code), 1008);
        assert!(frame.reason.contains("too slowly"), "{}", frame.reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_closed_while_a_fast_one_keeps_receiving_sqlite() {
    slow_reader(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_closed_while_a_fast_one_keeps_receiving_postgres() {
    slow_reader(Backend::Postgres).await;
}

/// A token that expires while its socket is open ends it with 4002 (within the re-check
/// interval), though the token was good at the handshake.
async fn expiry(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_AUTH_RECHECK_SECONDS", "0.2")]).await else { return };
    let user = app.register("ws-expiring").await;
    let now = time::OffsetDateTime::now_utc();
    let claims = json!({
        "iss": "freeagentics-auth", "aud": "freeagentics-api", "sub": user.id, "role": "observer",
        "jti": uuid::Uuid::now_v7(), "typ": "access",
        "iat": (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0,
        "nbf": now.unix_timestamp(), "exp": now.unix_timestamp() + 2,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("primary".to_owned());
    let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_JWT_SECRET.as_bytes());
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let mut socket = app.ws(&token).await;
    socket.subscribe(&["system"]).await;
    let started = std::time::Instant::now();
    assert_eq!(close_code(socket.closed().await), 4002);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_ends_its_socket_sqlite() {
    expiry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_ends_its_socket_postgres() {
    expiry(Backend::Postgres).await;
}

/// `resume` replays up to WS_REPLAY_MAX events; one more is `resync_required`. A socket follows
/// at most 100 topics.
async fn replay_and_topic_limits(backend: Backend) {
    let Some(app) = spawn(backend, &[("WS_REPLAY_MAX", "2")]).await else { return };
    let owner = app.user_with_role("ws-limits", "agent_manager").await;
    let mut socket = app.ws(&owner.access).await;
    socket.subscribe(&["agents"]).await;
    let first = app.new_agent(&owner.access, "first").await;
    let mark = socket.event().await;
    assert_eq!(mark["data"]["id"], first["id"]);
    let second = app.new_agent(&owner.access, "second").await;
    let third = app.new_agent(&owner.access, "third").await;
    assert_eq!(socket.event().await["data"]["id"], second["id"]);
    let last = socket.event().await;
    assert_eq!(last["data"]["id"], third["id"]);
    // two missed: replayed
    let mut two = app.ws(&owner.access).await;
    two.subscribe(&["agents"]).await;
    two.send(json!({ "type": "resume", "after": mark["id"] })).await;
    assert_eq!(two.event().await["data"]["id"], second["id"]);
    assert_eq!(two.event().await["data"]["id"], third["id"]);
    // resuming behind what this socket already received cannot keep the order
    two.send(json!({ "type": "resume", "after": mark["id"] })).await;
    assert_eq!(two.recv().await, json!({ "type": "resync_required", "topic": "agents" }));
    // three missed: more than may be replayed
    let mut three = app.ws(&owner.access).await;
    three.subscribe(&["agents"]).await;
    three.send(json!({ "type": "resume", "after": mark["id"].as_u64().unwrap() - 1 })).await;
    assert_eq!(three.recv().await, json!({ "type": "resync_required", "topic": "agents" }));

    let topics = app.coalition_topics(&owner.id, 101).await;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let answers = socket.subscribe(&names).await;
    // `agents` and 99 of these make 100; the last is refused
    assert_eq!(answers.len(), 3, "two refusals, then the answer");
    assert_eq!(answers[0]["code"], "too_many_topics");
    assert_eq!(answers[1]["code"], "too_many_topics");
    assert_eq!(answers[2]["topics"].as_array().unwrap().len(), 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_topic_limits_hold_at_their_edges_sqlite() {
    replay_and_topic_limits(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_topic_limits_hold_at_their_edges_postgres() {
    replay_and_topic_limits(Backend::Postgres).await;
}

both_backends! {
    async fn each_coalition_change_reaches_its_subscribers(app) {
        use reqwest::Method;
        let owner = app.user_with_role("ws-coalitions", "researcher").await;
        let watcher = app.register("ws-coalition-watcher").await;
        let mut all = app.ws(&watcher.access).await;
        all.subscribe(&["coalitions"]).await;
        let created = app.agent_call(Method::POST, "/api/v1/coalitions", &owner.access, Some(json!({ "name": "live" }))).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let first = all.event().await;
        assert_eq!((first["event"].as_str(), first["topic"].as_str()), (Some("coalition.created"), Some(&*format!("coalition:{id}"))));
        assert_eq!(first["data"], created);
        let mut one = app.ws(&watcher.access).await;
        one.subscribe(&[&format!("coalition:{id}")]).await;

        let body = json!({ "name": "member", "parameters": { "width": 3, "height": 3, "horizon": 1 }, "capabilities": ["scout"] });
        let agent = app.agent_call(Method::POST, "/api/v1/agents", &owner.access, Some(body)).await;
        let agent_id = agent["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/coalitions/{id}");
        app.agent_call(Method::POST, &format!("{path}/members"), &owner.access, Some(json!({ "agent_id": agent_id }))).await;
        let objective = json!({ "description": "scout", "required_capabilities": ["scout"], "priority": 0.5 });
        app.agent_call(Method::POST, &format!("{path}/objectives"), &owner.access, Some(objective)).await;
        app.agent_call(Method::DELETE, &format!("{path}/members/{agent_id}"), &owner.access, None).await;
        let formed = json!({ "objectives": [{ "description": "go", "required_capabilities": ["scout"], "priority": 0.5 }], "agent_ids": [agent_id] });
        let formation = app.agent_call(Method::POST, "/api/v1/coalitions/form", &owner.access, Some(formed)).await;
        let formed_id = formation["coalitions"][0]["coalition"]["id"].as_str().unwrap().to_owned();

        let expected = ["coalition.member_joined", "coalition.objective_updated", "coalition.member_left", "coalition.dissolved"];
        for socket in [&mut all, &mut one] {
            let mut last = 0;
            for kind in expected {
                let event = socket.event().await;
                assert_eq!((event["event"].as_str(), event["data"]["id"].as_str()), (Some(kind), Some(id.as_str())));
                assert!(event["id"].as_u64().unwrap() > last, "in order");
                last = event["id"].as_u64().unwrap();
            }
        }
        let event = all.event().await;
        assert_eq!((event["event"].as_str(), event["topic"].as_str()), (Some("coalition.formed"), Some(&*format!("coalition:{formed_id}"))));
        assert!(one.silent_for(Duration::from_millis(200)).await, "another coalition's event is not this topic's");
    }
}
