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

/// The smallest id an event written at `at` or later can have: event ids are UUIDv7, whose first
/// 48 bits are the Unix time in milliseconds, so everything below it was written before `at`.
pub fn first_id_at(at: OffsetDateTime) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub topic: String,
    pub kind: String,
    pub payload: Value,
    pub created_at: OffsetDateTime,
    /// The event's place in the stream, once the relay assigned it.
    pub seq: Option<i64>,
    /// On the bus: numbered at or below the relay's position.
    pub published: bool,
}

#[cfg(test)]
mod tests {
    use super::first_id_at;
    use time::Duration;

    #[test]
    fn the_first_id_of_an_instant_splits_ids_by_their_millisecond() {
        let id = freeagentics_core::new_id();
        let (secs, nanos) = id.get_timestamp().expect("a v7 id has a timestamp").to_unix();
        let written = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap()).unwrap()
            + Duration::nanoseconds(i64::from(nanos));
        assert!(first_id_at(written) <= id, "an id is not before its own millisecond");
        assert!(first_id_at(written + Duration::milliseconds(1)) > id, "nor at or after the next one");
        assert_eq!(first_id_at(written).get_version_num(), 7);
    }
}
