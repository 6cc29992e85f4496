//! The outbox: events written in the same transaction as the change they announce.
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// An event to write with a change: its topic (`agents`, `agent:<id>`, …), kind (`agent.created`,
/// …) and payload (the resource as the REST API renders it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub topic: String,
    pub kind: String,
    pub payload: Value,
}

/// How a store method builds the event of the row it wrote (version and timestamps are only
/// known once written).
pub type EventFor<'a, T> = &'a (dyn Fn(&T) -> NewEvent + Send + Sync);

/// Which change a coalition event announces. The store picks it (a leave that empties the
/// coalition is `MemberLeft` then `Dissolved`); the caller names and renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoalitionEventKind {
    Created,
    Updated,
    MemberJoined,
    MemberLeft,
    ObjectiveUpdated,
    Formed,
    Dissolved,
}

/// How a store method builds the events of the coalition changes it writes.
pub type CoalitionEventFor<'a> =
    &'a (dyn Fn(CoalitionEventKind, &crate::coalitions::CoalitionDetail) -> NewEvent + Send + Sync);

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub topic: String,
    pub kind: String,
    pub payload: Value,
    pub created_at: OffsetDateTime,
    /// The event's place in the stream, once the relay assigned it.
    pub seq: Option<i64>,
    pub published_at: Option<OffsetDateTime>,
}
