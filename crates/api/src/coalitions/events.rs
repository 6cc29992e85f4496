//! The outbox events of coalition changes: topic `coalition:<id>` (subscribers of `coalitions` get
//! every coalition's), kind `coalition.<change>`, and the coalition as the REST API renders it.
use super::CoalitionView;
use freeagentics_store::{CoalitionDetail, CoalitionEventKind, NewEvent};

pub fn kind(kind: CoalitionEventKind) -> &'static str {
    match kind {
        CoalitionEventKind::Created => "coalition.created",
        CoalitionEventKind::Updated => "coalition.updated",
        CoalitionEventKind::MemberJoined => "coalition.member_joined",
        CoalitionEventKind::MemberLeft => "coalition.member_left",
        CoalitionEventKind::ObjectiveUpdated => "coalition.objective_updated",
        CoalitionEventKind::Formed => "coalition.formed",
        CoalitionEventKind::Dissolved => "coalition.dissolved",
    }
}

/// The event of a change, for the store to write in the change's transaction.
pub fn of(change: CoalitionEventKind, detail: &CoalitionDetail) -> NewEvent {
    NewEvent {
        topic: format!("coalition:{}", detail.coalition.id),
        kind: kind(change).to_owned(),
        payload: serde_json::to_value(CoalitionView::from(detail)).unwrap_or_default(),
    }
}
