//! The event bus: committed changes, in the order the relay numbered them, shared by every replica
//! (a Redis stream) or kept in process (a ring buffer, embedded profile). Both retain a bounded
//! number of recent events, so a client that reconnects can be given exactly what it missed — or
//! be told that it cannot, never neither.
//!
//! Ids are the outbox rows' `seq`: strictly increasing, but not gapless (a sequence number taken
//! by a rolled-back transaction is never used). So "is every event after `n` still retained?" is
//! answered with a *floor* — the highest id the bus no longer holds (trimmed, or from before the
//! bus existed) — rather than by looking for holes.
mod local;
mod redis;

pub use local::LocalEventBus;
pub use redis::RedisEventBus;

use crate::RedisError;
use async_trait::async_trait;
use std::time::Duration;

/// One event as the bus carries it. `data` is the payload's JSON text, rendered once by the relay
/// and copied verbatim into every frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BusEvent {
    pub id: u64,
    pub topic: String,
    pub kind: String,
    pub data: String,
    /// When the change was committed (RFC 3339).
    pub ts: String,
}

/// Live events after a position.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub events: Vec<BusEvent>,
    /// Events after the position were dropped before they could be read (the reader fell further
    /// behind than the bus retains): its subscribers must resynchronise.
    pub gap: bool,
}

/// The answer to "everything after `after`".
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// Every event after the position, in order (possibly none).
    Complete(Vec<BusEvent>),
    /// Some are no longer retained, the position is unknown here, or there are more than the
    /// caller may replay.
    Gone,
}

#[async_trait]
pub trait EventBus: Send + Sync + std::fmt::Debug {
    /// Appends `events`, in order, each under its id, in one round trip; answers per event whether
    /// it was appended. `false` when the bus already held that id or a later one: it was
    /// published before (by this relay before a crash, or by another replica's), so publishing is
    /// idempotent and never reorders. On an error some of them may have been appended: publishing
    /// them again is safe.
    async fn publish(&self, events: &[BusEvent]) -> Result<Vec<bool>, RedisError>;
    /// Events after `after` (at most `limit`), waiting up to `wait` for the first one.
    async fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Batch, RedisError>;
    /// The retained events after `after`, if that is all of them and at most `max`.
    async fn replay(&self, after: u64, max: usize) -> Result<Replay, RedisError>;
    /// The newest id the bus holds (0 when empty): where a new reader starts.
    async fn last_id(&self) -> Result<u64, RedisError>;
}

/// The rule both implementations answer `replay` with, from what they hold.
fn decide(after: u64, floor: u64, last: u64, events: Vec<BusEvent>, max: usize) -> Replay {
    if after < floor || after > last || events.len() > max { Replay::Gone } else { Replay::Complete(events) }
}
