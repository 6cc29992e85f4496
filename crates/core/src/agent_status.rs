//! The lifecycle status of an agent, as far as the rules outside the agents themselves need it
//! (coalition membership and formation). The status machine itself belongs to the agents work.
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

    /// Stopped and errored agents cannot take on coalition work; a pending or paused agent can be
    /// enlisted and started later.
    pub fn may_join_coalition(self) -> bool {
        !matches!(self, AgentStatus::Stopped | AgentStatus::Error)
    }
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
}
