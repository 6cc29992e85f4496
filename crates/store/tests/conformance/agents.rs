//! Agents, step history, the outbox and idempotency records: the same assertions on every backend.
use freeagentics_core::{AgentStatus, Role, new_id};
use freeagentics_store::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) async fn owner(store: &dyn Store, name: &str) -> Uuid {
    let new = NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Researcher,
    };
    store.create_user(new).await.unwrap().id
}

pub(crate) fn new_agent(owner_id: Uuid, name: &str, template: &str) -> NewAgent {
    NewAgent {
        id: new_id(),
        owner_id,
        name: name.to_owned(),
        template: template.to_owned(),
        capabilities: vec!["explore".to_owned(), "map".to_owned()],
        parameters: json!({ "width": 5 }),
        gmn_spec: None,
        model_key: format!("{template}:k"),
        state: "{\"step_count\":0}".to_owned(),
    }
}

/// The event every agent change writes in these tests: its kind and version, on the agent's topic.
pub(crate) fn event(kind: &'static str) -> impl Fn(&Agent) -> NewEvent + Send + Sync {
    move |agent: &Agent| NewEvent {
        topic: format!("agent:{}", agent.id),
        kind: kind.to_owned(),
        payload: json!({ "id": agent.id, "version": agent.version, "status": agent.status.as_str() }),
    }
}

/// The event every coalition change writes in these tests: its kind and version, on its topic.
pub(crate) fn cevent(kind: CoalitionEventKind, detail: &CoalitionDetail) -> NewEvent {
    let kind = match kind {
        CoalitionEventKind::Created => "coalition.created",
        CoalitionEventKind::Updated => "coalition.updated",
        CoalitionEventKind::MemberJoined => "coalition.member_joined",
        CoalitionEventKind::MemberLeft => "coalition.member_left",
        CoalitionEventKind::ObjectiveUpdated => "coalition.objective_updated",
        CoalitionEventKind::Formed => "coalition.formed",
        CoalitionEventKind::Dissolved => "coalition.dissolved",
    };
    NewEvent {
        topic: format!("coalition:{}", detail.coalition.id),
        kind: kind.to_owned(),
        payload: json!({ "id": detail.coalition.id, "version": detail.coalition.version }),
    }
}

/// The uncached read of an agent: the caller's account and the agent, as the separate reads give them.
pub(crate) async fn an_account_and_an_agent_read_in_one_query(store: &dyn Store) {
    let owner = owner(store, "grace").await;
    let agent =
        store.create_agent(new_agent(owner, "Reader", "basic-explorer"), &event("agent.created")).await.unwrap();
    let reader = store.create_user(NewUser {
        username: "reader".to_owned(),
        email: "reader@example.com".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Observer,
    });
    let reader = reader.await.unwrap();

    let (user, found) = store.user_and_agent(reader.id, agent.id).await.unwrap().expect("the account exists");
    assert_eq!(user, store.user_by_id(reader.id).await.unwrap());
    assert_eq!(found, Some(store.agent_by_id(agent.id).await.unwrap()));

    let (user, missing) = store.user_and_agent(reader.id, new_id()).await.unwrap().expect("the account exists");
    assert_eq!((user.id, missing), (reader.id, None), "an unknown agent");
    assert!(store.user_and_agent(new_id(), agent.id).await.unwrap().is_none(), "an unknown account");
}

pub(crate) async fn agents_round_trip_with_their_events(store: &dyn Store) {
    let owner = owner(store, "ada").await;
    let created =
        store.create_agent(new_agent(owner, "Explorer", "basic-explorer"), &event("agent.created")).await.unwrap();
    assert_eq!(created.status, AgentStatus::Pending, "new agents start pending");
    assert_eq!((created.version, created.step_count), (1, 0));
    assert_eq!(created.capabilities, ["explore", "map"]);
    assert_eq!(created.parameters, json!({ "width": 5 }));
    assert_eq!(store.agent_by_id(created.id).await.unwrap(), created);
    assert_eq!(store.agent_with_state(created.id).await.unwrap().state, "{\"step_count\":0}");
    assert!(matches!(store.agent_by_id(new_id()).await, Err(StoreError::NotFound)));

    let events = store.unpublished_events(10).await.unwrap();
    assert_eq!(events.len(), 1, "one outbox row per change");
    assert_eq!(events[0].topic, format!("agent:{}", created.id));
    assert_eq!(events[0].kind, "agent.created");
    assert_eq!(events[0].payload["version"], 1);
    assert_eq!((events[0].seq, events[0].published), (None, false));

    let renamed = store
        .update_agent(
            created.id,
            Some(1),
            AgentChange { name: Some("Renamed".to_owned()), ..AgentChange::default() },
            &event("agent.updated"),
        )
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Renamed", 2));
    assert_eq!(renamed.capabilities, created.capabilities, "untouched fields stay");
    let stale = store
        .update_agent(
            created.id,
            Some(1),
            AgentChange { name: Some("x".to_owned()), ..AgentChange::default() },
            &event("agent.updated"),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch)), "{stale:?}");
    let missing = store.update_agent(new_id(), None, AgentChange::default(), &event("agent.updated")).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    let active = store
        .update_agent(
            created.id,
            None,
            AgentChange { status: Some(AgentStatus::Active), ..AgentChange::default() },
            &event("agent.status"),
        )
        .await
        .unwrap();
    assert_eq!((active.status, active.version), (AgentStatus::Active, 3));
    let kinds: Vec<String> = store.unpublished_events(10).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["agent.created", "agent.updated", "agent.status"], "failed changes write no event");

    store.delete_agent(created.id, &event("agent.deleted"), &cevent).await.unwrap();
    assert!(matches!(store.agent_by_id(created.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.delete_agent(created.id, &event("agent.deleted"), &cevent).await,
        Err(StoreError::NotFound)
    ));
    let last = store.unpublished_events(10).await.unwrap().pop().unwrap();
    assert_eq!((last.kind.as_str(), last.payload["version"].as_i64()), ("agent.deleted", Some(3)));

    let before_any = last.created_at - time::Duration::hours(1);
    assert_eq!(store.delete_events_before(before_any).await.unwrap(), 0, "retention keeps younger events");
    let after_all = last.created_at + time::Duration::seconds(1);
    assert_eq!(store.delete_events_before(after_all).await.unwrap(), 4, "retention deletes the four older events");
    assert!(store.unpublished_events(10).await.unwrap().is_empty());

    // parameters come back as written, whatever the database does to JSON on the way
    let nested = NewAgent {
        parameters: json!({ "zeta": 1.5, "a": [1, 2.25, -0.1], "m": { "y": null, "x": "s" }, "big": 12345678901234_i64 }),
        ..new_agent(owner, "Nested", "basic-explorer")
    };
    let nested = store.create_agent(nested, &event("agent.created")).await.unwrap();
    assert_eq!(store.agent_by_id(nested.id).await.unwrap(), nested);
    store.delete_agent(nested.id, &event("agent.deleted"), &cevent).await.unwrap();
}

pub(crate) async fn agents_list_with_every_filter(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let bob = owner(store, "bob").await;
    let mut ids = Vec::new();
    for (owner, name, template) in [
        (ada, "alpha", "basic-explorer"),
        (ada, "alphabet", "goal-optimizer"),
        (bob, "beta", "basic-explorer"),
        (bob, "Alpha", "basic-explorer"),
        (ada, "álpha", "basic-explorer"),
    ] {
        ids.push(store.create_agent(new_agent(owner, name, template), &event("agent.created")).await.unwrap().id);
    }
    store
        .update_agent(
            ids[2],
            None,
            AgentChange { status: Some(AgentStatus::Active), ..AgentChange::default() },
            &event("x"),
        )
        .await
        .unwrap();
    let names = |page: Page<Agent>| page.items.into_iter().map(|a| a.name).collect::<Vec<_>>();
    let query = |q: AgentQuery| async move { store.list_agents(&AgentQuery { limit: 50, ..q }).await.unwrap() };
    assert_eq!(
        names(query(AgentQuery::default()).await),
        ["álpha", "Alpha", "beta", "alphabet", "alpha"],
        "newest first"
    );
    assert_eq!(names(query(AgentQuery { owner_id: Some(bob), ..Default::default() }).await), ["Alpha", "beta"]);
    assert_eq!(
        names(query(AgentQuery { template: Some("goal-optimizer".to_owned()), ..Default::default() }).await),
        ["alphabet"]
    );
    assert_eq!(names(query(AgentQuery { status: Some(AgentStatus::Active), ..Default::default() }).await), ["beta"]);
    let prefixed = |prefix: &str| AgentQuery { name_prefix: Some(prefix.to_owned()), ..Default::default() };
    assert_eq!(names(query(prefixed("alpha")).await), ["alphabet", "alpha"], "case-sensitive, byte order");
    assert_eq!(names(query(prefixed("á")).await), ["álpha"]);
    assert!(names(query(prefixed("zzz")).await).is_empty());
    // two at a time: pages follow each other with no gap and no repeat
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_agents(&AgentQuery { limit: 2, after, ..AgentQuery::default() }).await.unwrap();
        seen.extend(page.items.iter().map(|a| a.id));
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let counts = store.count_agents_by_status().await.unwrap();
    let count = |status| counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
    assert_eq!((count(AgentStatus::Pending), count(AgentStatus::Active), count(AgentStatus::Paused)), (4, 1, 0));
}

pub(crate) fn step(agent: &Agent, n: usize) -> StepWrite {
    StepWrite {
        previous: agent.clone(),
        state: format!("{{\"step_count\":{}}}", agent.step_count + 1),
        observation: vec![n],
        action: vec![n % 5],
        free_energy: n as f64 * 0.5,
        entropy: 1.25,
        most_likely: vec![(n, 0.9)],
        duration_micros: 100,
        history_limit: 3,
    }
}

pub(crate) async fn steps_are_versioned_and_history_is_bounded(store: &dyn Store) {
    let owner = owner(store, "ada").await;
    let mut agent =
        store.create_agent(new_agent(owner, "Stepper", "basic-explorer"), &event("agent.created")).await.unwrap();
    for n in 1..=5 {
        agent = store.record_step(step(&agent, n), &event("agent.stepped")).await.unwrap();
        assert_eq!((agent.step_count, agent.version), (n as i64, n as i64 + 1));
        assert_eq!(store.agent_by_id(agent.id).await.unwrap(), agent, "the row returned is the row stored");
    }
    let stepped: Vec<_> =
        store.unpublished_events(100).await.unwrap().into_iter().filter(|e| e.kind == "agent.stepped").collect();
    let versions: Vec<_> = stepped.iter().map(|e| e.payload["version"].as_i64()).collect();
    assert_eq!(versions, [2, 3, 4, 5, 6].map(Some), "one outbox row per step, rendered from the row written");
    let stored = store.agent_with_state(agent.id).await.unwrap();
    assert_eq!((&stored.agent, stored.state.as_str()), (&agent, "{\"step_count\":5}"), "the state of the last step");
    let listed = store
        .list_agents_with_state(&AgentQuery { owner_id: Some(owner), limit: 10, ..AgentQuery::default() })
        .await
        .unwrap();
    assert_eq!(listed.items, [stored], "listed with its state");
    assert!(matches!(store.agent_with_state(new_id()).await, Err(StoreError::NotFound)));
    assert_eq!(agent.total_step_micros, 500);
    assert_eq!(agent.last_free_energy, Some(2.5));
    assert!(agent.last_active_at.is_some());
    // a step computed from a stale read is refused, not lost over the newer one
    let mut stale = step(&agent, 6);
    stale.previous.version -= 1;
    assert!(matches!(store.record_step(stale, &event("agent.stepped")).await, Err(StoreError::VersionMismatch)));

    let page = store.list_steps(agent.id, 2, None).await.unwrap();
    let seqs: Vec<i64> = page.items.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [5, 4], "newest first");
    assert_eq!(page.items[0].observation, [5]);
    assert_eq!(page.items[0].most_likely, [(5, 0.9)]);
    assert_eq!(page.next, Some(4));
    let rest = store.list_steps(agent.id, 2, page.next).await.unwrap();
    assert_eq!(rest.items.iter().map(|s| s.seq).collect::<Vec<_>>(), [3], "older steps pruned to the limit of 3");
    assert_eq!(rest.next, None);

    // two steps from the same read: exactly one is recorded
    let stepped = event("agent.stepped");
    let (a, b) =
        tokio::join!(store.record_step(step(&agent, 7), &stepped), store.record_step(step(&agent, 8), &stepped));
    assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "{a:?} {b:?}");
    assert_eq!(store.agent_by_id(agent.id).await.unwrap().step_count, 6);

    store.delete_agent(agent.id, &event("agent.deleted"), &cevent).await.unwrap();
    assert!(store.list_steps(agent.id, 10, None).await.unwrap().items.is_empty(), "history goes with the agent");
}

pub(crate) async fn idempotency_keys_claim_replay_and_expire(store: &dyn Store) {
    let user = owner(store, "ada").await;
    let other = owner(store, "bob").await;
    let later = OffsetDateTime::now_utc() + time::Duration::hours(24);
    assert_eq!(store.claim_idempotency_key(user, "k1", "h1", later).await.unwrap(), IdempotencyClaim::Claimed);
    let IdempotencyClaim::Existing(running) = store.claim_idempotency_key(user, "k1", "h2", later).await.unwrap()
    else {
        panic!("claimed twice")
    };
    assert_eq!((running.request_hash.as_str(), running.status), ("h1", None), "still running");
    assert_eq!(
        store.claim_idempotency_key(other, "k1", "h1", later).await.unwrap(),
        IdempotencyClaim::Claimed,
        "per user"
    );
    let headers = json!({ "location": "/api/v1/agents/1" });
    store.finish_idempotency_key(user, "k1", 201, &headers, b"{\"id\":1}").await.unwrap();
    let IdempotencyClaim::Existing(done) = store.claim_idempotency_key(user, "k1", "h1", later).await.unwrap() else {
        panic!("claimed a finished key")
    };
    assert_eq!((done.status, done.headers, done.body.as_slice()), (Some(201), headers, b"{\"id\":1}".as_slice()));
    // a failed request gives its key back
    store.abandon_idempotency_key(other, "k1").await.unwrap();
    assert_eq!(store.claim_idempotency_key(other, "k1", "h9", later).await.unwrap(), IdempotencyClaim::Claimed);
    // an expired record is replaced by a new claim, and pruned
    let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    assert_eq!(store.claim_idempotency_key(user, "old", "h1", past).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(store.claim_idempotency_key(user, "old", "h2", later).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(store.claim_idempotency_key(user, "gone", "h1", past).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(store.delete_expired_idempotency_keys(OffsetDateTime::now_utc()).await.unwrap(), 1);
}

/// Every migration's down script undoes its up script: all the way down, then up again.
pub(crate) async fn every_migration_reverts_and_reapplies(store: &dyn Store) {
    let total = store.migrate_status().await.unwrap().len();
    for _ in 0..total {
        assert!(store.migrate_revert().await.unwrap().is_some());
    }
    assert_eq!(store.migrate_revert().await.unwrap(), None, "nothing left to revert");
    assert_eq!(store.migrate_run().await.unwrap().len(), total);
    let owner = owner(store, "again").await;
    store.create_agent(new_agent(owner, "after", "basic-explorer"), &event("agent.created")).await.unwrap();
}

/// Creates arriving together (which PostgreSQL writes in batches): each lands once with its own
/// event, and one that fails (an owner that does not exist) fails alone.
pub(crate) async fn concurrent_creates_each_stand_alone(store: &dyn Store) {
    let owner = owner(store, "concurrent").await;
    let ghost = new_id();
    let creates =
        (0..40).map(|i| new_agent(if i == 20 { ghost } else { owner }, &format!("Agent {i}"), "basic-explorer"));
    let event = event("agent.created");
    let results = futures_util::future::join_all(creates.map(|new| store.create_agent(new, &event))).await;

    assert!(results[20].is_err(), "an agent of an unknown owner is refused: {:?}", results[20]);
    let created: Vec<Agent> = results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 20)
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("create {i} failed beside the bad one: {e:?}")))
        .collect();
    assert_eq!(created.len(), 39);
    for agent in &created {
        assert_eq!(&store.agent_by_id(agent.id).await.unwrap(), agent, "{} reads back as returned", agent.name);
    }

    let events = store.unpublished_events(100).await.unwrap();
    let mut topics: Vec<String> = events.iter().map(|e| e.topic.clone()).collect();
    let mut expected: Vec<String> = created.iter().map(|a| format!("agent:{}", a.id)).collect();
    topics.sort();
    expected.sort();
    assert_eq!(topics, expected, "one event per created agent, none for the refused one");
    assert!(events.iter().all(|e| e.kind == "agent.created" && e.payload["version"] == 1));
}

/// Steps arriving together: each agent's step lands once with its history record and event, and of
/// two steps computed from one read exactly one is recorded.
pub(crate) async fn concurrent_steps_each_stand_alone(store: &dyn Store) {
    let owner = owner(store, "steppers").await;
    let mut agents = Vec::new();
    for i in 0..20 {
        agents
            .push(store.create_agent(new_agent(owner, &format!("S{i}"), "x"), &event("agent.created")).await.unwrap());
    }
    let stepped = event("agent.stepped");
    let writes = agents.iter().map(|a| step(a, 1)).chain([step(&agents[0], 2)]);
    let results = futures_util::future::join_all(writes.map(|w| store.record_step(w, &stepped))).await;

    let (first, second) = (&results[0], &results[20]);
    assert_eq!(usize::from(first.is_ok()) + usize::from(second.is_ok()), 1, "{first:?} {second:?}");
    assert!(matches!(if first.is_ok() { second } else { first }, Err(StoreError::VersionMismatch)));
    for (agent, result) in agents.iter().zip(&results).skip(1) {
        let after = result.as_ref().unwrap_or_else(|e| panic!("{} failed: {e:?}", agent.name));
        assert_eq!((after.step_count, after.version), (1, 2));
        assert_eq!(&store.agent_by_id(agent.id).await.unwrap(), after, "the row returned is the row stored");
        assert_eq!(store.list_steps(agent.id, 10, None).await.unwrap().items.len(), 1, "one history record");
    }
    let kept = store.list_steps(agents[0].id, 10, None).await.unwrap().items;
    let expected = if first.is_ok() { [1] } else { [2] };
    assert_eq!(kept.iter().map(|s| s.observation[0]).collect::<Vec<_>>(), expected, "the recorded one's history");
    let events = store.unpublished_events(100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "agent.stepped").count(), 20, "one event per recorded step");
}
