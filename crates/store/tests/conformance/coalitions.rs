//! Coalitions, members and objectives: the same assertions on every backend, including the races
//! the locks (PostgreSQL) and the one writer (SQLite) must settle.
use super::agents::{cevent, new_agent, owner};
use freeagentics_core::coalition::{CoalitionStatus, JoinError, MemberRole, MembershipError, StatusTransitionError};
use freeagentics_core::{AgentStatus, new_id};
use freeagentics_store::*;
use std::sync::Arc;
use uuid::Uuid;

fn new_coalition(owner_id: Uuid, name: &str, max_size: i64, objectives: Vec<NewObjective>) -> NewCoalition {
    NewCoalition {
        id: new_id(),
        owner_id,
        name: name.to_owned(),
        description: "explore the north".to_owned(),
        max_size,
        objectives,
    }
}

fn objective(description: &str, capabilities: &[&str], progress: f64) -> NewObjective {
    NewObjective {
        id: new_id(),
        description: description.to_owned(),
        required_capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
        priority: 0.5,
        progress,
        deadline: None,
    }
}

async fn agent(store: &dyn Store, owner_id: Uuid, name: &str, status: AgentStatus) -> Uuid {
    let created =
        store.create_agent(new_agent(owner_id, name, "basic-explorer"), &super::agents::event("c")).await.unwrap();
    if status != AgentStatus::Pending {
        let change = AgentChange { status: Some(status), ..AgentChange::default() };
        store.update_agent(created.id, None, change, &super::agents::event("s")).await.unwrap();
    }
    created.id
}

fn join(agent_id: Uuid, role: Option<MemberRole>, max: usize) -> JoinRequest {
    JoinRequest { agent_id, role, max_coalitions: max }
}

fn refusal(result: Result<CoalitionDetail, StoreError>) -> CoalitionRefusal {
    match result {
        Err(StoreError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn roles(detail: &CoalitionDetail) -> Vec<(Uuid, MemberRole)> {
    detail.members.iter().map(|m| (m.member.agent_id, m.member.role)).collect()
}

async fn coalition_kinds(store: &dyn Store, id: Uuid) -> Vec<String> {
    let topic = format!("coalition:{id}");
    store.unpublished_events(1000).await.unwrap().into_iter().filter(|e| e.topic == topic).map(|e| e.kind).collect()
}

pub(crate) async fn coalitions_round_trip_with_their_events(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let bob = owner(store, "bob").await;
    let created = store
        .create_coalition(
            new_coalition(ada, "North", 5, vec![objective("map", &["map"], 0.0), objective("scout", &[], 0.2)]),
            &cevent,
        )
        .await
        .unwrap();
    let c = &created.coalition;
    assert_eq!((c.status, c.version, c.member_count, c.max_size), (CoalitionStatus::Forming, 1, 0, 5));
    assert_eq!(created.objectives.len(), 2);
    assert_eq!(created.objectives[0].required_capabilities, ["map"]);
    assert_eq!(store.coalition_by_id(c.id).await.unwrap(), created);
    assert!(matches!(store.coalition_by_id(new_id()).await, Err(StoreError::NotFound)));
    let other = store.create_coalition(new_coalition(bob, "South", 3, Vec::new()), &cevent).await.unwrap();

    let page = |status, owner_id, member_agent_id| CoalitionQuery {
        status,
        owner_id,
        member_agent_id,
        limit: 10,
        after: None,
    };
    let all = store.list_coalitions(&page(None, None, None)).await.unwrap();
    assert_eq!(all.items.iter().map(|c| c.id).collect::<Vec<_>>(), [other.coalition.id, c.id], "newest first");
    let mine = store.list_coalitions(&page(None, Some(ada), None)).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    let first = store.list_coalitions(&CoalitionQuery { limit: 1, ..page(None, None, None) }).await.unwrap();
    let rest =
        store.list_coalitions(&CoalitionQuery { limit: 1, after: first.next, ..page(None, None, None) }).await.unwrap();
    assert_eq!((first.items[0].id, rest.items[0].id, rest.next), (other.coalition.id, c.id, None));

    let renamed = store
        .update_coalition(
            c.id,
            Some(1),
            CoalitionChange { name: Some("North-East".to_owned()), ..CoalitionChange::default() },
            &cevent,
        )
        .await
        .unwrap();
    assert_eq!((renamed.coalition.name.as_str(), renamed.coalition.version), ("North-East", 2));
    assert_eq!(renamed.coalition.description, "explore the north", "untouched fields stay");
    let stale = store.update_coalition(c.id, Some(1), CoalitionChange::default(), &cevent).await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch)), "{stale:?}");
    let missing = store.update_coalition(new_id(), None, CoalitionChange::default(), &cevent).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    // forming → active needs a member; the refusal names the rule
    let activate = CoalitionChange { status: Some(CoalitionStatus::Active), ..CoalitionChange::default() };
    assert_eq!(
        refusal(store.update_coalition(c.id, None, activate.clone(), &cevent).await),
        CoalitionRefusal::Status(StatusTransitionError::NoMembers)
    );
    let explorer = agent(store, ada, "explorer", AgentStatus::Active).await;
    store.add_member(c.id, join(explorer, None, 3), &cevent).await.unwrap();
    let active = store.update_coalition(c.id, None, activate, &cevent).await.unwrap();
    assert_eq!(active.coalition.status, CoalitionStatus::Active);
    let back = CoalitionChange { status: Some(CoalitionStatus::Forming), ..CoalitionChange::default() };
    assert!(matches!(
        refusal(store.update_coalition(c.id, None, back, &cevent).await),
        CoalitionRefusal::Status(StatusTransitionError::Illegal { .. })
    ));
    let shrink = CoalitionChange { max_size: Some(0), ..CoalitionChange::default() };
    assert_eq!(
        refusal(store.update_coalition(c.id, None, shrink, &cevent).await),
        CoalitionRefusal::SizeBelowMembers { requested: 0, members: 1 }
    );
    let filtered = store.list_coalitions(&page(Some(CoalitionStatus::Active), None, Some(explorer))).await.unwrap();
    assert_eq!(filtered.items.iter().map(|c| (c.id, c.member_count)).collect::<Vec<_>>(), [(c.id, 1)]);
    assert!(
        store
            .list_coalitions(&page(Some(CoalitionStatus::Forming), None, Some(explorer)))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let dissolve = CoalitionChange { status: Some(CoalitionStatus::Dissolved), ..CoalitionChange::default() };
    let dissolved = store.update_coalition(c.id, None, dissolve, &cevent).await.unwrap();
    assert_eq!(dissolved.coalition.status, CoalitionStatus::Dissolved);
    assert!(dissolved.coalition.dissolved_at.is_some());
    assert_eq!(dissolved.members.len(), 1, "a dissolved coalition keeps its members as history");
    assert_eq!(
        refusal(store.update_coalition(c.id, None, CoalitionChange::default(), &cevent).await),
        CoalitionRefusal::Dissolved
    );
    assert_eq!(
        coalition_kinds(store, c.id).await,
        [
            "coalition.created",
            "coalition.updated",
            "coalition.member_joined",
            "coalition.updated",
            "coalition.dissolved"
        ],
        "one event per committed change; refused changes write none"
    );
    let counts = store.count_coalitions_by_status().await.unwrap();
    assert!(counts.contains(&(CoalitionStatus::Dissolved, 1)) && counts.contains(&(CoalitionStatus::Forming, 1)));
}

pub(crate) async fn membership_rules_and_leader_succession(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let c = store.create_coalition(new_coalition(ada, "Team", 3, Vec::new()), &cevent).await.unwrap().coalition;
    let a = agent(store, ada, "a", AgentStatus::Active).await;
    let b = agent(store, ada, "b", AgentStatus::Pending).await;
    let d = agent(store, ada, "d", AgentStatus::Paused).await;
    let stopped = agent(store, ada, "stopped", AgentStatus::Stopped).await;

    let first = store.add_member(c.id, join(a, Some(MemberRole::Observer), 3), &cevent).await.unwrap();
    assert_eq!(roles(&first), [(a, MemberRole::Leader)], "the first member leads, whatever it asked");
    assert_eq!(first.coalition.version, 2, "a membership change is a new version of the coalition");
    let second = store.add_member(c.id, join(b, None, 3), &cevent).await.unwrap();
    assert_eq!(roles(&second), [(a, MemberRole::Leader), (b, MemberRole::Member)]);
    assert_eq!(
        refusal(store.add_member(c.id, join(b, None, 3), &cevent).await),
        CoalitionRefusal::Join(JoinError::AlreadyMember)
    );
    assert_eq!(
        refusal(store.add_member(c.id, join(stopped, None, 3), &cevent).await),
        CoalitionRefusal::Join(JoinError::AgentIneligible { status: AgentStatus::Stopped })
    );
    assert_eq!(
        refusal(store.add_member(c.id, join(new_id(), None, 3), &cevent).await).to_string().split(' ').next(),
        Some("no")
    );
    let third = store.add_member(c.id, join(d, Some(MemberRole::Leader), 3), &cevent).await.unwrap();
    assert_eq!(
        roles(&third),
        [(a, MemberRole::Member), (b, MemberRole::Member), (d, MemberRole::Leader)],
        "a new leader demotes the old one"
    );
    let e = agent(store, ada, "e", AgentStatus::Active).await;
    assert_eq!(
        refusal(store.add_member(c.id, join(e, None, 3), &cevent).await),
        CoalitionRefusal::Join(JoinError::CoalitionFull { max_size: 3 })
    );

    // the agent limit counts coalitions that are not dissolved
    let other = store.create_coalition(new_coalition(ada, "Other", 5, Vec::new()), &cevent).await.unwrap().coalition;
    assert_eq!(
        refusal(store.add_member(other.id, join(a, None, 1), &cevent).await),
        CoalitionRefusal::Join(JoinError::AgentAtLimit { current: 1, limit: 1 })
    );

    // succession: highest contribution × trust, then earliest join
    let scores =
        |contribution, trust| MemberChange { contribution: Some(contribution), trust: Some(trust), role: None };
    store.update_member(c.id, a, scores(0.5, 0.5), &cevent).await.unwrap();
    store.update_member(c.id, b, scores(0.25, 1.0), &cevent).await.unwrap();
    let left = store.remove_member(c.id, d, &cevent).await.unwrap();
    assert_eq!(roles(&left), [(a, MemberRole::Leader), (b, MemberRole::Member)], "0.25 each: the earlier join leads");
    let stepped_down = store
        .update_member(c.id, a, MemberChange { role: Some(MemberRole::Member), ..MemberChange::default() }, &cevent)
        .await
        .unwrap();
    assert_eq!(roles(&stepped_down), [(a, MemberRole::Member), (b, MemberRole::Leader)]);
    assert_eq!(
        refusal(store.update_member(c.id, d, MemberChange::default(), &cevent).await),
        CoalitionRefusal::Membership(MembershipError::NotMember)
    );
    assert_eq!(
        refusal(store.remove_member(c.id, d, &cevent).await),
        CoalitionRefusal::Membership(MembershipError::NotMember)
    );

    store.remove_member(c.id, b, &cevent).await.unwrap();
    let last = store.remove_member(c.id, a, &cevent).await.unwrap();
    assert_eq!(last.coalition.status, CoalitionStatus::Dissolved, "the last member leaving dissolves it");
    assert!(last.members.is_empty());
    let kinds = coalition_kinds(store, c.id).await;
    assert_eq!(kinds[kinds.len() - 2..], ["coalition.member_left", "coalition.dissolved"]);
    // a dissolved coalition no longer counts toward the limit
    store.add_member(other.id, join(a, None, 1), &cevent).await.unwrap();
}

pub(crate) async fn objectives_cover_complete_and_disband(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let c = store.create_coalition(new_coalition(ada, "Goals", 5, Vec::new()), &cevent).await.unwrap().coalition;
    let a = agent(store, ada, "a", AgentStatus::Active).await;
    assert_eq!(
        refusal(store.add_objective(c.id, objective("map", &["explore", "fly"], 0.0), &cevent).await),
        CoalitionRefusal::MissingCapabilities(vec!["explore".to_owned(), "fly".to_owned()])
    );
    store.add_member(c.id, join(a, None, 3), &cevent).await.unwrap();
    assert_eq!(
        refusal(store.add_objective(c.id, objective("map", &["explore", "fly"], 0.0), &cevent).await),
        CoalitionRefusal::MissingCapabilities(vec!["fly".to_owned()]),
        "the agents' capabilities are explore and map"
    );
    let one = store.add_objective(c.id, objective("map", &["explore", "map"], 0.0), &cevent).await.unwrap();
    let two = store.add_objective(c.id, objective("chart", &["map"], 0.0), &cevent).await.unwrap();
    let (first, second) = (one.objectives[0].id, two.objectives[1].id);
    let activate = CoalitionChange { status: Some(CoalitionStatus::Active), ..CoalitionChange::default() };
    store.update_coalition(c.id, None, activate, &cevent).await.unwrap();

    let progress = |p| ObjectiveChange { progress: Some(p), priority: None };
    let done = store.update_objective(c.id, first, progress(1.0), &cevent).await.unwrap();
    assert!(done.objectives[0].completed_at.is_some());
    assert_eq!(done.coalition.status, CoalitionStatus::Active, "one of two objectives complete");
    let undone = store.update_objective(c.id, first, progress(0.5), &cevent).await.unwrap();
    assert_eq!(undone.objectives[0].completed_at, None);
    assert_eq!(
        refusal(store.update_objective(c.id, new_id(), progress(0.1), &cevent).await).to_string().split(' ').next(),
        Some("no")
    );
    store.update_objective(c.id, first, progress(1.0), &cevent).await.unwrap();
    let removed = store.remove_objective(c.id, second, &cevent).await.unwrap();
    assert_eq!(removed.coalition.status, CoalitionStatus::Disbanding, "every remaining objective is complete");
    assert_eq!(removed.objectives.len(), 1);
    assert!(matches!(
        refusal(store.remove_objective(c.id, second, &cevent).await),
        CoalitionRefusal::UnknownObjective(id) if id == second
    ));
    assert!(coalition_kinds(store, c.id).await.iter().filter(|k| *k == "coalition.objective_updated").count() >= 5);
}

pub(crate) async fn deleting_an_agent_leaves_its_coalitions_by_the_rules(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let solo = store.create_coalition(new_coalition(ada, "Solo", 5, Vec::new()), &cevent).await.unwrap().coalition;
    let duo = store.create_coalition(new_coalition(ada, "Duo", 5, Vec::new()), &cevent).await.unwrap().coalition;
    let a = agent(store, ada, "a", AgentStatus::Active).await;
    let b = agent(store, ada, "b", AgentStatus::Active).await;
    store.add_member(solo.id, join(a, None, 3), &cevent).await.unwrap();
    store.add_member(duo.id, join(a, None, 3), &cevent).await.unwrap();
    store.add_member(duo.id, join(b, None, 3), &cevent).await.unwrap();

    let mut left = store.delete_agent(a, &super::agents::event("agent.deleted"), &cevent).await.unwrap();
    left.sort();
    let mut expected = vec![solo.id, duo.id];
    expected.sort();
    assert_eq!(left, expected);
    let solo = store.coalition_by_id(solo.id).await.unwrap();
    assert_eq!((solo.coalition.status, solo.members.len()), (CoalitionStatus::Dissolved, 0));
    let duo_after = store.coalition_by_id(duo.id).await.unwrap();
    assert_eq!(roles(&duo_after), [(b, MemberRole::Leader)], "the remaining member leads");
    assert_eq!(coalition_kinds(store, duo.id).await.last().map(String::as_str), Some("coalition.member_left"));
}

pub(crate) async fn formation_persists_all_or_nothing(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    let a = agent(store, ada, "a", AgentStatus::Active).await;
    let b = agent(store, ada, "b", AgentStatus::Active).await;
    let paused = agent(store, ada, "p", AgentStatus::Paused).await;
    let mut ids = vec![a, b];
    ids.sort();

    let candidates = store.formation_candidates(None, Some(ada), 100).await.unwrap();
    assert_eq!(candidates.iter().map(|c| c.agent_id).collect::<Vec<_>>(), ids, "active agents only, in id order");
    assert_eq!(candidates[0].capabilities, ["explore", "map"]);
    let listed = store.formation_candidates(Some(&[paused, new_id(), paused]), None, 100).await.unwrap();
    assert_eq!(listed.iter().map(|c| (c.agent_id, c.status)).collect::<Vec<_>>(), [(paused, AgentStatus::Paused)]);

    let formed = |name: &str, members: Vec<(Uuid, MemberRole)>| FormedCoalitionWrite {
        coalition: new_coalition(ada, name, 5, vec![objective(name, &["map"], 0.0)]),
        members,
    };
    let write = FormationWrite {
        coalitions: vec![
            formed("one", vec![(a, MemberRole::Member), (b, MemberRole::Leader)]),
            formed("two", vec![(a, MemberRole::Leader)]),
        ],
        max_coalitions: 1,
    };
    let over = store.persist_formation(write.clone(), &cevent).await;
    assert!(
        matches!(over, Err(StoreError::Refused(CoalitionRefusal::Join(JoinError::AgentAtLimit { .. })))),
        "{over:?}"
    );
    assert!(
        store
            .list_coalitions(&CoalitionQuery { limit: 10, ..CoalitionQuery::default() })
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing persisted"
    );

    let details = store.persist_formation(FormationWrite { max_coalitions: 3, ..write }, &cevent).await.unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0].coalition.status, CoalitionStatus::Active);
    assert_eq!(details[0].members.iter().filter(|m| m.member.role == MemberRole::Leader).count(), 1);
    assert_eq!(details[0].objectives.len(), 1);
    assert_eq!(coalition_kinds(store, details[1].coalition.id).await, ["coalition.formed"]);
    let counted = store.formation_candidates(Some(&[a]), None, 10).await.unwrap();
    assert_eq!((counted[0].coalitions, counted[0].mean_trust), (2, Some(1.0)));
}

pub(crate) async fn concurrent_joins_never_overcommit(store: &dyn Store) {
    let ada = owner(store, "ada").await;
    // 20 agents race for the one slot
    let c = store.create_coalition(new_coalition(ada, "One", 1, Vec::new()), &cevent).await.unwrap().coalition;
    let mut agents = Vec::new();
    for i in 0..20 {
        agents.push(agent(store, ada, &format!("r{i}"), AgentStatus::Active).await);
    }
    let store: Arc<&dyn Store> = Arc::new(store);
    let joins = agents.iter().map(|id| {
        let store = Arc::clone(&store);
        async move { store.add_member(c.id, join(*id, None, 3), &cevent).await }
    });
    let results = futures_util::future::join_all(joins).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one join takes the last slot: {results:?}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_eq!(refusal(result), CoalitionRefusal::Join(JoinError::CoalitionFull { max_size: 1 }));
    }
    assert_eq!(store.coalition_by_id(c.id).await.unwrap().members.len(), 1);

    // one agent races into 10 coalitions with a limit of 2
    let runner = agent(*store, ada, "runner", AgentStatus::Active).await;
    let mut targets = Vec::new();
    for i in 0..10 {
        targets.push(
            store
                .create_coalition(new_coalition(ada, &format!("t{i}"), 5, Vec::new()), &cevent)
                .await
                .unwrap()
                .coalition
                .id,
        );
    }
    let joins = targets.iter().map(|coalition| {
        let store = Arc::clone(&store);
        async move { store.add_member(*coalition, join(runner, None, 2), &cevent).await }
    });
    let results = futures_util::future::join_all(joins).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "never more than the agent's limit: {results:?}");
    let candidate = store.formation_candidates(Some(&[runner]), None, 1).await.unwrap();
    assert_eq!(candidate[0].coalitions, 2);
}
