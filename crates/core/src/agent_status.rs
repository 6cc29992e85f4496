//! The lifecycle status of an agent and its status machine:
//!
//! ```text
//!  pending ──▶ active ◀──▶ paused        any ──▶ error
//!     │          │           │
//!     └──────────┴───────────┴──▶ stopped
//! ```
//!
//! Only an active agent is stepped. `stopped` is final except for `error`; moving to the current
//! status is not a transition and is refused like any illegal move.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Pending,
    Active,
    Paused,
    Stopped,
    Error,
}

impl AgentStatus {
    pub const ALL: [AgentStatus; 5] =
        [AgentStatus::Pending, AgentStatus::Active, AgentStatus::Paused, AgentStatus::Stopped, AgentStatus::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Pending => "pending",
            AgentStatus::Active => "active",
            AgentStatus::Paused => "paused",
            AgentStatus::Stopped => "stopped",
            AgentStatus::Error => "error",
        }
    }

    /// Where an agent may go from here.
    pub fn allowed_targets(self) -> &'static [AgentStatus] {
        use AgentStatus::*;
        match self {
            Pending => &[Active, Stopped, Error],
            Active => &[Paused, Stopped, Error],
            Paused => &[Active, Stopped, Error],
            Stopped => &[Error],
            Error => &[],
        }
    }

    /// Checks a requested move; the error names the allowed targets (HTTP 409).
    pub fn transition(self, to: AgentStatus) -> Result<AgentStatus, AgentTransitionError> {
        if self.allowed_targets().contains(&to) {
            Ok(to)
        } else {
            Err(AgentTransitionError { from: self, to, allowed: self.allowed_targets() })
        }
    }

    /// Stopped and errored agents cannot take on coalition work; a pending or paused agent can be
    /// enlisted and started later.
    pub fn may_join_coalition(self) -> bool {
        !matches!(self, AgentStatus::Stopped | AgentStatus::Error)
    }
}

/// A refused status change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move an agent from {from} to {to}; allowed from {from}: {}", names(allowed))]
pub struct AgentTransitionError {
    pub from: AgentStatus,
    pub to: AgentStatus,
    pub allowed: &'static [AgentStatus],
}

fn names(statuses: &[AgentStatus]) -> String {
    if statuses.is_empty() {
        return "none".to_owned();
    }
    statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown agent status `{s}` (expected pending, active, paused, stopped or error)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_stopped_or_error_are_barred() {
        for status in AgentStatus::ALL {
            assert_eq!(status.as_str().parse::<AgentStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        let barred: Vec<_> = AgentStatus::ALL.into_iter().filter(|s| !s.may_join_coalition()).collect();
        assert_eq!(barred, [AgentStatus::Stopped, AgentStatus::Error]);
        assert!("running".parse::<AgentStatus>().is_err());
    }

    #[test]
    fn the_status_machine_allows_exactly_the_documented_moves() {
        use AgentStatus::*;
        let legal = [
            (Pending, Active),
            (Active, Paused),
            (Paused, Active),
            (Pending, Stopped),
            (Active, Stopped),
            (Paused, Stopped),
            (Pending, Error),
            (Active, Error),
            (Paused, Error),
            (Stopped, Error),
        ];
        for from in AgentStatus::ALL {
            for to in AgentStatus::ALL {
                let result = from.transition(to);
                assert_eq!(result.is_ok(), legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
        let error = Paused.transition(Pending).unwrap_err().to_string();
        assert_eq!(error, "cannot move an agent from paused to pending; allowed from paused: active, stopped, error");
        assert!(Error.transition(Active).unwrap_err().to_string().ends_with("allowed from error: none"));
    }
}
