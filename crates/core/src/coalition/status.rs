//! The coalition status machine.
//!
//! ```text
//!            activate (≥ 1 member)          disband
//!  forming ─────────────────────▶ active ─────────────▶ disbanding
//!     │                              │                      │
//!     │ dissolve / last member left  │ dissolve / last      │ dissolve / last member left
//!     ▼                              ▼ member left          ▼
//!  dissolved ◀───────────────────────┴──────────────────────┘
//! ```
//!
//! - `forming → active` needs at least one member.
//! - `active → disbanding` on request, and automatically once every objective is complete (a
//!   coalition with no objectives never completes them: see [`status_after_objectives_changed`]).
//! - `dissolved` is reachable from every other status (explicit dissolve, i.e. `DELETE`, or the last
//!   member leaving) and is terminal.
//! - Nothing goes backwards: a disbanding coalition does not become active again, an active one
//!   does not return to forming.
//! - Moving to the current status is not a transition and is refused like any other illegal move;
//!   a handler that treats "PATCH to the same status" as a no-op checks equality before calling.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoalitionStatus {
    Forming,
    Active,
    Disbanding,
    Dissolved,
}

/// Why a requested status change was refused (HTTP 409 with the allowed targets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusTransitionError {
    #[error("cannot move a coalition from {from} to {to}; allowed from {from}: {}", names(allowed))]
    Illegal { from: CoalitionStatus, to: CoalitionStatus, allowed: &'static [CoalitionStatus] },
    #[error("a coalition needs at least one member to become active")]
    NoMembers,
}

fn names(statuses: &[CoalitionStatus]) -> String {
    if statuses.is_empty() {
        return "none (dissolved is final)".to_owned();
    }
    statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl CoalitionStatus {
    pub const ALL: [CoalitionStatus; 4] =
        [CoalitionStatus::Forming, CoalitionStatus::Active, CoalitionStatus::Disbanding, CoalitionStatus::Dissolved];

    pub fn as_str(self) -> &'static str {
        match self {
            CoalitionStatus::Forming => "forming",
            CoalitionStatus::Active => "active",
            CoalitionStatus::Disbanding => "disbanding",
            CoalitionStatus::Dissolved => "dissolved",
        }
    }

    /// Every status this one may move to, in lifecycle order.
    pub fn allowed_targets(self) -> &'static [CoalitionStatus] {
        use CoalitionStatus::*;
        match self {
            Forming => &[Active, Dissolved],
            Active => &[Disbanding, Dissolved],
            Disbanding => &[Dissolved],
            Dissolved => &[],
        }
    }

    /// Agents may join forming and active coalitions only.
    pub fn accepts_members(self) -> bool {
        matches!(self, CoalitionStatus::Forming | CoalitionStatus::Active)
    }

    /// A membership counts toward an agent's coalition limit until its coalition is dissolved.
    pub fn counts_toward_agent_limit(self) -> bool {
        self != CoalitionStatus::Dissolved
    }

    /// Checks a requested move. `member_count` is the coalition's current number of members.
    pub fn transition(
        self,
        to: CoalitionStatus,
        member_count: usize,
    ) -> Result<CoalitionStatus, StatusTransitionError> {
        if !self.allowed_targets().contains(&to) {
            return Err(StatusTransitionError::Illegal { from: self, to, allowed: self.allowed_targets() });
        }
        if to == CoalitionStatus::Active && member_count == 0 {
            return Err(StatusTransitionError::NoMembers);
        }
        Ok(to)
    }
}

/// The automatic move after an objective was added, updated or removed: an active coalition whose
/// objectives are all complete starts disbanding. "All" needs at least one objective, otherwise
/// removing the last objective (or never having one) would end the coalition.
pub fn status_after_objectives_changed(
    status: CoalitionStatus,
    objectives_total: usize,
    objectives_complete: usize,
) -> Option<CoalitionStatus> {
    (status == CoalitionStatus::Active && objectives_total > 0 && objectives_complete >= objectives_total)
        .then_some(CoalitionStatus::Disbanding)
}

/// The automatic move after a member left: the last one out dissolves the coalition.
pub fn status_after_member_left(status: CoalitionStatus, remaining_members: usize) -> Option<CoalitionStatus> {
    (remaining_members == 0 && status != CoalitionStatus::Dissolved).then_some(CoalitionStatus::Dissolved)
}

impl fmt::Display for CoalitionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CoalitionStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CoalitionStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| {
            format!("unknown coalition status `{s}` (expected forming, active, disbanding or dissolved)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::CoalitionStatus::*;
    use super::*;

    #[test]
    fn the_whole_transition_table() {
        // (from, to, legal with one member)
        let legal = [
            (Forming, Active),
            (Forming, Dissolved),
            (Active, Disbanding),
            (Active, Dissolved),
            (Disbanding, Dissolved),
        ];
        for from in CoalitionStatus::ALL {
            for to in CoalitionStatus::ALL {
                let result = from.transition(to, 1);
                if legal.contains(&(from, to)) {
                    assert_eq!(result, Ok(to), "{from} → {to}");
                } else {
                    assert_eq!(
                        result,
                        Err(StatusTransitionError::Illegal { from, to, allowed: from.allowed_targets() }),
                        "{from} → {to}"
                    );
                }
            }
        }
    }

    #[test]
    fn activation_needs_a_member_but_dissolving_does_not() {
        assert_eq!(Forming.transition(Active, 0), Err(StatusTransitionError::NoMembers));
        assert_eq!(Forming.transition(Dissolved, 0), Ok(Dissolved));
        assert_eq!(Active.transition(Disbanding, 0), Ok(Disbanding));
    }

    #[test]
    fn errors_name_the_allowed_targets() {
        let message = Active.transition(Forming, 3).unwrap_err().to_string();
        assert_eq!(
            message,
            "cannot move a coalition from active to forming; allowed from active: disbanding, dissolved"
        );
        let message = Dissolved.transition(Active, 3).unwrap_err().to_string();
        assert_eq!(
            message,
            "cannot move a coalition from dissolved to active; allowed from dissolved: none (dissolved is final)"
        );
        assert_eq!(
            Forming.transition(Forming, 1).unwrap_err().to_string().split("; ").nth(1),
            Some("allowed from forming: active, dissolved")
        );
    }

    #[test]
    fn completing_every_objective_disbands_an_active_coalition_only() {
        assert_eq!(status_after_objectives_changed(Active, 2, 2), Some(Disbanding));
        assert_eq!(status_after_objectives_changed(Active, 2, 1), None);
        assert_eq!(status_after_objectives_changed(Active, 0, 0), None, "no objectives is not all complete");
        assert_eq!(status_after_objectives_changed(Forming, 1, 1), None);
        assert_eq!(status_after_objectives_changed(Disbanding, 1, 1), None);
    }

    #[test]
    fn the_last_member_leaving_dissolves() {
        for status in [Forming, Active, Disbanding] {
            assert_eq!(status_after_member_left(status, 0), Some(Dissolved));
            assert_eq!(status_after_member_left(status, 1), None);
            // every automatic move is also a legal one
            assert!(status.allowed_targets().contains(&Dissolved));
        }
        assert_eq!(status_after_member_left(Dissolved, 0), None);
        assert!(Active.allowed_targets().contains(&Disbanding));
    }

    #[test]
    fn membership_and_limits_by_status() {
        assert_eq!(CoalitionStatus::ALL.map(CoalitionStatus::accepts_members), [true, true, false, false]);
        assert_eq!(CoalitionStatus::ALL.map(CoalitionStatus::counts_toward_agent_limit), [true, true, true, false]);
    }

    #[test]
    fn names_round_trip() {
        for status in CoalitionStatus::ALL {
            assert_eq!(status.as_str().parse::<CoalitionStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert!("paused".parse::<CoalitionStatus>().is_err());
    }
}
