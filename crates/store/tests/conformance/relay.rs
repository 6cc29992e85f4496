//! The relay's queries: numbering is in id order, once, above the bus's newest id, committed
//! before publishing; marking covers exactly what was published.
use freeagentics_store::*;
use serde_json::json;
use time::OffsetDateTime;

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
    assert_eq!(store.mark_published(seqs[1], OffsetDateTime::now_utc()).await.unwrap(), 2);
    write(store, "agent:d").await;
    let rest = store.sequence_events(0, 10).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.topic.as_str()).collect::<Vec<_>>(), ["coalition:c", "agent:d"]);
    assert!(rest[1].seq.unwrap() > seqs[2]);
    assert_eq!(store.mark_published(rest[1].seq.unwrap(), OffsetDateTime::now_utc()).await.unwrap(), 2);
    assert!(store.sequence_events(0, 10).await.unwrap().is_empty());
    assert!(store.unpublished_events(10).await.unwrap().is_empty());
    let all = store.topic_events("agent:a", 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].published_at.is_some());
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
