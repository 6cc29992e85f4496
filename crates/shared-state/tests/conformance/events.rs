//! The event bus and the ticket store behave the same in process (embedded profile) and on Redis:
//! ordered, idempotent publishing, bounded retention with a floor, blocking reads, and replay that
//! is complete or refused — never partial.
use freeagentics_shared_state::{
    BusEvent, EventBus, LocalEventBus, LocalTicketStore, RedisEventBus, RedisPool, RedisTicketStore, Replay,
    TicketStore,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RETAINED: usize = 5;

fn event(id: u64) -> BusEvent {
    BusEvent {
        id,
        topic: format!("agent:{id}"),
        kind: "agent.updated".to_owned(),
        data: format!(r#"{{"n":{id}}}"#),
        ts: "2026-12-02T06:00:00Z".to_owned(),
    }
}

fn ids(replay: Replay) -> Option<Vec<u64>> {
    match replay {
        Replay::Complete(events) => Some(events.into_iter().map(|e| e.id).collect()),
        Replay::Gone => None,
    }
}

async fn publishing_is_ordered_and_idempotent(bus: Arc<dyn EventBus>) {
    assert_eq!(bus.last_id().await.unwrap(), 0);
    assert_eq!(bus.publish(&[event(3)]).await.unwrap(), [true]);
    assert_eq!(bus.publish(&[event(4)]).await.unwrap(), [true]);
    // a repeat, and anything at or below the newest, is refused without error
    assert_eq!(bus.publish(&[event(4)]).await.unwrap(), [false]);
    assert_eq!(bus.publish(&[event(2)]).await.unwrap(), [false]);
    // ids need not be consecutive
    assert_eq!(bus.publish(&[event(9)]).await.unwrap(), [true]);
    assert_eq!(bus.last_id().await.unwrap(), 9);
    let batch = bus.read_after(3, 10, Duration::from_millis(10)).await.unwrap();
    assert!(!batch.gap);
    assert_eq!(batch.events, vec![event(4), event(9)]);
    // many in one call: each answered in order, repeats and stragglers refused within the batch
    let many = [event(10), event(11), event(11), event(8), event(12)];
    assert_eq!(bus.publish(&many).await.unwrap(), [true, true, false, false, true]);
    assert_eq!(bus.publish(&[]).await.unwrap(), Vec::<bool>::new());
    let batch = bus.read_after(9, 10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(batch.events, vec![event(10), event(11), event(12)]);
}

async fn a_batch_larger_than_the_bound_keeps_its_newest(bus: Arc<dyn EventBus>) {
    let batch: Vec<BusEvent> = (1..=8).map(event).collect();
    assert_eq!(bus.publish(&batch).await.unwrap(), [true; 8]);
    assert_eq!(bus.last_id().await.unwrap(), 8);
    // 5 retained (4..=8): the floor is 3
    assert_eq!(ids(bus.replay(3, 10).await.unwrap()), Some(vec![4, 5, 6, 7, 8]));
    assert_eq!(ids(bus.replay(2, 10).await.unwrap()), None, "event 3 was trimmed");
}

async fn replay_is_complete_or_refused(bus: Arc<dyn EventBus>) {
    // nothing published yet: an empty replay from 0, and no future position
    assert_eq!(ids(bus.replay(0, 10).await.unwrap()), Some(vec![]));
    assert_eq!(ids(bus.replay(1, 10).await.unwrap()), None);
    for id in 10..=16 {
        bus.publish(&[event(id)]).await.unwrap();
    }
    // 5 retained (12..=16): the floor is 11
    assert_eq!(ids(bus.replay(11, 10).await.unwrap()), Some(vec![12, 13, 14, 15, 16]));
    assert_eq!(ids(bus.replay(14, 10).await.unwrap()), Some(vec![15, 16]));
    assert_eq!(ids(bus.replay(16, 10).await.unwrap()), Some(vec![]));
    assert_eq!(ids(bus.replay(10, 10).await.unwrap()), None, "event 11 was trimmed");
    // before the first event this bus ever had
    assert_eq!(ids(bus.replay(5, 10).await.unwrap()), None);
    assert_eq!(ids(bus.replay(17, 10).await.unwrap()), None, "a position the bus never reached");
    // more than the caller may replay
    assert_eq!(ids(bus.replay(11, 4).await.unwrap()), None);
    assert_eq!(ids(bus.replay(12, 4).await.unwrap()), Some(vec![13, 14, 15, 16]));
    // a reader that fell behind the trim is told
    let batch = bus.read_after(10, 10, Duration::from_millis(10)).await.unwrap();
    assert!(batch.gap);
    assert_eq!(batch.events.first().map(|e| e.id), Some(12));
}

async fn a_blocked_reader_wakes_on_publish(bus: Arc<dyn EventBus>) {
    bus.publish(&[event(1)]).await.unwrap();
    let reader = {
        let bus = Arc::clone(&bus);
        tokio::spawn(async move {
            let started = Instant::now();
            let batch = bus.read_after(1, 10, Duration::from_secs(5)).await.unwrap();
            (batch, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish(&[event(2)]).await.unwrap();
    let (batch, waited) = reader.await.unwrap();
    assert_eq!(batch.events, vec![event(2)]);
    assert!(waited < Duration::from_secs(2), "woken by the publish, not the timeout: {waited:?}");
    // nothing new: an empty batch after the wait
    let started = Instant::now();
    let empty = bus.read_after(2, 10, Duration::from_millis(200)).await.unwrap();
    assert!(empty.events.is_empty() && !empty.gap);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

macro_rules! both_buses {
    ($($suite:ident),* $(,)?) => {
        $(
            mod $suite {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_process() {
                    super::$suite(Arc::new(LocalEventBus::new(RETAINED))).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    let Some(pool) = crate::redis().await else { return };
                    super::$suite(Arc::new(RedisEventBus::new(pool, RETAINED))).await;
                }
            }
        )*
    };
}

both_buses!(
    publishing_is_ordered_and_idempotent,
    a_batch_larger_than_the_bound_keeps_its_newest,
    replay_is_complete_or_refused,
    a_blocked_reader_wakes_on_publish
);

/// Two replicas on one stream: what one publishes the other reads and replays, and the other
/// cannot publish it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_stream() {
    let Some(pool) = crate::redis().await else { return };
    let a = RedisEventBus::new(pool.clone(), 100);
    let b = RedisEventBus::new(pool, 100);
    assert_eq!(a.publish(&[event(1)]).await.unwrap(), [true]);
    assert_eq!(b.publish(&[event(1)]).await.unwrap(), [false]);
    assert_eq!(b.read_after(0, 10, Duration::from_millis(10)).await.unwrap().events, vec![event(1)]);
    assert_eq!(ids(b.replay(0, 10).await.unwrap()), Some(vec![1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_an_error_not_a_silence() {
    let options = freeagentics_shared_state::RedisOptions {
        pool_size: 1,
        timeout: Duration::from_millis(200),
        key_prefix: "fa:test:unreachable:".to_owned(),
    };
    let bus = RedisEventBus::new(RedisPool::new("redis://127.0.0.1:1", &options).unwrap(), 10);
    assert!(bus.publish(&[event(1)]).await.is_err());
    assert!(bus.replay(0, 10).await.is_err());
    assert!(bus.read_after(0, 10, Duration::from_millis(10)).await.is_err());
    assert!(bus.last_id().await.is_err());
}

async fn tickets_suite(tickets: Arc<dyn TicketStore>) {
    tickets.put("a", "claims", Duration::from_secs(30)).await;
    assert_eq!(tickets.take("a").await.as_deref(), Some("claims"));
    assert_eq!(tickets.take("a").await, None, "single use");
    assert_eq!(tickets.take("never").await, None);
    tickets.put("short", "claims", Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(tickets.take("short").await, None, "expired");
}

#[tokio::test]
async fn local_tickets() {
    tickets_suite(Arc::new(LocalTicketStore::default())).await;
}

#[tokio::test]
async fn redis_tickets() {
    let Some(pool) = crate::redis().await else { return };
    tickets_suite(Arc::new(RedisTicketStore::new(pool.clone()))).await;
    // issued on one replica, used on another
    let (a, b) = (RedisTicketStore::new(pool.clone()), RedisTicketStore::new(pool));
    a.put("shared", "claims", Duration::from_secs(30)).await;
    assert_eq!(b.take("shared").await.as_deref(), Some("claims"));
    assert_eq!(a.take("shared").await, None);
}
