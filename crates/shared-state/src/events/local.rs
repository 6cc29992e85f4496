//! The in-process bus: a ring of the newest events and a wake-up for readers.
use super::{Batch, BusEvent, EventBus, Replay, decide};
use crate::RedisError;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug)]
pub struct LocalEventBus {
    capacity: usize,
    ring: Mutex<Ring>,
    published: Notify,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<BusEvent>,
    /// The highest id no longer held (see the module documentation of `events`).
    floor: u64,
    /// The highest id ever accepted; 0 before the first.
    last: u64,
}

impl Ring {
    fn after(&self, after: u64, limit: usize) -> Vec<BusEvent> {
        let start = self.events.partition_point(|e| e.id <= after);
        self.events.range(start..).take(limit).cloned().collect()
    }
}

impl LocalEventBus {
    /// Retains the newest `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), ring: Mutex::new(Ring::default()), published: Notify::new() }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EventBus for LocalEventBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<Vec<bool>, RedisError> {
        let mut added = Vec::with_capacity(events.len());
        {
            let mut ring = self.ring();
            for event in events {
                if event.id <= ring.last {
                    added.push(false);
                    continue;
                }
                if ring.last == 0 {
                    // the process knows nothing from before its first event
                    ring.floor = event.id.saturating_sub(1);
                }
                ring.last = event.id;
                ring.events.push_back(event.clone());
                added.push(true);
            }
            while ring.events.len() > self.capacity {
                if let Some(dropped) = ring.events.pop_front() {
                    ring.floor = dropped.id;
                }
            }
        }
        if added.contains(&true) {
            self.published.notify_waiters();
        }
        Ok(added)
    }

    async fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Batch, RedisError> {
        let published = self.published.notified();
        tokio::pin!(published);
        // registered before looking, so a publish between the look and the wait is not missed
        published.as_mut().enable();
        let read = |ring: &Ring| Batch { events: ring.after(after, limit), gap: after < ring.floor };
        let batch = read(&self.ring());
        if !batch.events.is_empty() || batch.gap {
            return Ok(batch);
        }
        if tokio::time::timeout(wait, published).await.is_err() {
            return Ok(Batch::default());
        }
        Ok(read(&self.ring()))
    }

    async fn replay(&self, after: u64, max: usize) -> Result<Replay, RedisError> {
        let ring = self.ring();
        let events = ring.after(after, max.saturating_add(1));
        Ok(decide(after, ring.floor, ring.last, events, max))
    }

    async fn last_id(&self) -> Result<u64, RedisError> {
        Ok(self.ring().last)
    }
}
