//! The relay's queries: numbering is in id order, once, above the bus's newest id, committed
//! before publishing; marking covers exactly what was published.
use freeagentics_store::*;
use serde_json::json;

async fn write(store: &dyn Store, topic: &str) {
    let event = NewEvent { topic: topic.to_owned(), kind: "test.event".to_owned(), payload: json!({ "topic": topic }) };
    store.insert_event(event).await.unwrap();
}

pub(crate) async fn events_are_numbered_once_in_order_and_marked(store: &dyn Store) {
    assert!(store.sequence_events(0, 10).await.unwrap().is_empty(), "nothing to do");
    for topic in ["agent:a", "agent:b", "coalition:c"] {
        write(store, topic).await;
    }
    let first = store.sequence_events(0, 10).await.unwrap();
    let topics: Vec<&str> = first.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(topics, ["agent:a", "agent:b", "coalition:c"], "numbered in the order written");
    let seqs: Vec<i64> = first.iter().map(|e| e.seq.unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // asked again before publishing (a crash, or another replica): the same numbers
    let again = store.sequence_events(0, 10).await.unwrap();
    assert_eq!(again.iter().map(|e| e.seq).collect::<Vec<_>>(), first.iter().map(|e| e.seq).collect::<Vec<_>>());

    // the first two were published
    assert!(store.mark_published(seqs[1]).await.unwrap());
    write(store, "agent:d").await;
    let rest = store.sequence_events(0, 10).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.topic.as_str()).collect::<Vec<_>>(), ["coalition:c", "agent:d"]);
    assert!(rest[1].seq.unwrap() > seqs[2]);
    let waiting: Vec<String> = store.unpublished_events(10).await.unwrap().into_iter().map(|e| e.topic).collect();
    assert_eq!(waiting, ["coalition:c", "agent:d"]);
    assert!(!store.topic_events("coalition:c", 10).await.unwrap()[0].published);
    assert!(store.topic_events("agent:b", 10).await.unwrap()[0].published);

    // a slower relay, still marking an older batch, never moves the position back
    assert!(store.mark_published(rest[1].seq.unwrap()).await.unwrap());
    assert!(!store.mark_published(seqs[0]).await.unwrap());
    assert!(store.sequence_events(0, 10).await.unwrap().is_empty());
    assert!(store.unpublished_events(10).await.unwrap().is_empty());
    let all = store.topic_events("agent:a", 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].published);
}

/// Migration 0010 replaced marking each published row with the relay's position: reverting it
/// marks what the position covered, and applying it again takes the position from those marks.
pub(crate) async fn what_was_published_survives_reverting_the_relay_position(store: &dyn Store) {
    for topic in ["agent:a", "agent:b", "agent:c"] {
        write(store, topic).await;
    }
    let numbered = store.sequence_events(0, 10).await.unwrap();
    assert!(store.mark_published(numbered[1].seq.unwrap()).await.unwrap());
    write(store, "agent:d").await;

    while store.migrate_status().await.unwrap().iter().any(|m| m.version >= 10 && m.state == MigrationState::Applied) {
        store.migrate_revert().await.unwrap();
    }
    store.migrate_run().await.unwrap();

    let waiting: Vec<String> = store.unpublished_events(10).await.unwrap().into_iter().map(|e| e.topic).collect();
    assert_eq!(waiting, ["agent:c", "agent:d"], "published before the revert, published after it");
    assert!(store.topic_events("agent:b", 10).await.unwrap()[0].published);
    let next = store.sequence_events(0, 10).await.unwrap();
    assert_eq!(next.iter().map(|e| (e.topic.as_str(), e.seq)).collect::<Vec<_>>()[0], ("agent:c", numbered[2].seq));
    assert_eq!(next.len(), 2);
}

pub(crate) async fn numbers_stay_above_the_bus(store: &dyn Store) {
    write(store, "agent:a").await;
    // the bus already holds 500 (a database restored from an older backup, say)
    let numbered = store.sequence_events(500, 10).await.unwrap();
    assert!(numbered[0].seq.unwrap() > 500, "{:?}", numbered[0].seq);
    // at most `limit` per call, oldest first
    for topic in ["agent:b", "agent:c", "agent:d"] {
        write(store, topic).await;
    }
    let two = store.sequence_events(0, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].topic, "agent:a");
}
