//! Real-time events across replicas: two server processes on one PostgreSQL and one Redis. A
//! change through one reaches a subscriber on the other; a client that resumes on the other gets
//! exactly what it missed; a process killed right after its commits loses no event; and with Redis
//! stopped a subscriber is told to resync rather than left in silence.
use crate::helpers::{
    Options, PASSWORD, Process, RedisServer, Replicas, Session, TEST_JWT_SECRET, TestApp, redis_server_available,
    services_available,
};
use crate::ws_client::WsClient;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn new_agent(name: &str) -> Value {
    json!({ "name": name, "template": "basic-explorer", "parameters": { "width": 4, "height": 4, "horizon": 1 } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_reaches_subscribers_on_the_other_and_resumes_there() {
    let Some(replicas) = Replicas::start().await else { return };
    let mut on_b = WsClient::connect(&replicas.b.base, &replicas.admin.access).await;
    on_b.subscribe(&["agents"]).await;
    let mut on_a = WsClient::connect(&replicas.a.base, &replicas.admin.access).await;
    on_a.subscribe(&["agents"]).await;

    let first = replicas.create(&replicas.a, &new_agent("made-on-a")).await;
    let seen_b = on_b.event().await;
    assert_eq!(seen_b["data"], first);
    let seen_a = on_a.event().await;
    assert_eq!(seen_a, seen_b, "both replicas deliver the same event");

    // the client on A leaves, misses three changes, and comes back on B
    drop(on_a);
    let mut missed = Vec::new();
    for name in ["gap-1", "gap-2", "gap-3"] {
        missed.push(replicas.create(&replicas.a, &new_agent(name)).await["id"].clone());
    }
    for id in &missed {
        assert_eq!(&on_b.event().await["data"]["id"], id);
    }
    let mut back = WsClient::connect(&replicas.b.base, &replicas.admin.access).await;
    back.subscribe(&["agents"]).await;
    back.send(json!({ "type": "resume", "after": seen_a["id"] })).await;
    for id in &missed {
        let event = back.event().await;
        assert_eq!(&event["data"]["id"], id, "exactly the missed events, in order");
    }
    assert!(back.silent_for(Duration::from_millis(300)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_right_after_its_commits_loses_no_event() {
    let Some(mut replicas) = Replicas::start().await else { return };
    let mut on_b = WsClient::connect(&replicas.b.base, &replicas.admin.access).await;
    on_b.subscribe(&["agents"]).await;
    // A commits and is killed at once: whatever its relay had not published, B's relay does
    let mut created = Vec::new();
    for i in 0..20 {
        created.push(replicas.create(&replicas.a, &new_agent(&format!("doomed-{i}"))).await["id"].clone());
    }
    replicas.a.child.start_kill().unwrap();
    let _ = replicas.a.child.wait().await;
    for id in &created {
        let event = on_b.event().await;
        assert_eq!(event["event"], "agent.created");
        assert_eq!(&event["data"]["id"], id, "every committed change, once, in order");
    }
    assert!(on_b.silent_for(Duration::from_millis(300)).await, "no duplicates");
    // a third replica started afterwards serves resumes over the same history
    let mut c = Process::spawn(&replicas.env).await;
    c.discard_log();
    let mut on_c = WsClient::connect(&c.base, &replicas.admin.access).await;
    on_c.subscribe(&["agents"]).await;
    on_c.send(json!({ "type": "resume", "after": 0 })).await;
    for id in &created {
        assert_eq!(&on_c.event().await["data"]["id"], id);
    }
}

/// Redis stops: the subscriber hears `resync_required` (not silence), a resume is answered the
/// same way, local changes keep flowing to local sockets, and after Redis is back the reader
/// carries on by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_subscribers_are_told_to_resync() {
    if !services_available().await || !redis_server_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fa-ws-redis-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = RedisServer::start(&dir, "ws", &[]).await;
    let port = redis.port;
    let options = Options::new(crate::helpers::Backend::Postgres)
        .with("REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .with("REDIS_TIMEOUT_MS", "200");
    let Some(app) = TestApp::spawn_with(options).await else { return };
    let owner = app.user_with_role("ws-outage", "agent_manager").await;
    let mut socket = WsClient::connect(&format!("http://{}", app.addr), &owner.access).await;
    socket.subscribe(&["agents"]).await;
    let response = app
        .client
        .post(app.url("/api/v1/agents"))
        .bearer_auth(&owner.access)
        .json(&new_agent("before"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let before = socket.event().await;

    redis.stop().await;
    assert_eq!(socket.recv().await, json!({ "type": "resync_required", "topic": "agents" }));
    socket.send(json!({ "type": "resume", "after": before["id"] })).await;
    assert_eq!(socket.recv().await, json!({ "type": "resync_required", "topic": "agents" }));
    // this replica's own changes still reach its own sockets
    let during: Value = app
        .client
        .post(app.url("/api/v1/agents"))
        .bearer_auth(&owner.access)
        .json(&new_agent("during"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = socket.event().await;
    assert_eq!(event["data"]["id"], during["id"]);

    let _redis = RedisServer::start_on(port, &dir, "ws", &[]).await;
    let after: Value = app
        .client
        .post(app.url("/api/v1/agents"))
        .bearer_auth(&owner.access)
        .json(&new_agent("after"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = socket.event().await;
    assert_eq!(event["data"]["id"], after["id"], "delivered once, after the outage");
    assert!(socket.silent_for(Duration::from_millis(500)).await, "the event sent during the outage is not repeated");
    let _ = std::fs::remove_dir_all(dir);
}

/// SIGTERM: every socket gets Close 1001 and the process exits once they are gone. Tickets and
/// tokens never reach the log, even at debug level and with the ticket in the query string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1001_and_secrets_stay_out_of_the_log() {
    let env = [
        ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        ("SHUTDOWN_DRAIN_SECONDS", "0.5".to_owned()),
        ("LOG_LEVEL", "debug".to_owned()),
    ];
    let mut process = Process::spawn(&env).await;
    let mut log = process.take_log();
    let lines = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(line)) = log.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let client = Client::new();
    let body = json!({ "username": "sigterm", "email": "sigterm@example.com", "password": PASSWORD });
    let registered = client.post(format!("{}/api/v1/auth/register", process.base)).json(&body).send().await.unwrap();
    let session = Session::from_body(registered.json().await.unwrap());
    let ticket: Value = client
        .post(format!("{}/api/v1/ws/ticket", process.base))
        .bearer_auth(&session.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let url = crate::ws_client::ws_url(&process.base, &format!("?ticket={ticket}"));
    let mut socket = WsClient::open(&url, &[]).await.unwrap();
    socket.subscribe(&["system"]).await;
    let mut bearer = WsClient::connect(&process.base, &session.access).await;
    assert_eq!(process.metric(&client, "freeagentics_active_connections").await, 2.0);
    process.sigterm();
    for socket in [&mut socket, &mut bearer] {
        let frame = socket.closed().await.expect("a Close frame");
        assert_eq!(u16::from(frame.code), 1001);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), process.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let log = lines.await.unwrap();
    assert!(log.contains("/api/v1/ws"), "the handshakes were logged");
    assert!(!log.contains(&ticket), "a ticket reached the log");
    assert!(!log.contains(&session.access), "a token reached the log");
}
