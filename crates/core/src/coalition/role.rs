//! What a member does in its coalition.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A coalition with members has exactly one leader; the membership rules keep it that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Leader,
    Coordinator,
    Member,
    Observer,
}

impl MemberRole {
    pub const ALL: [MemberRole; 4] =
        [MemberRole::Leader, MemberRole::Coordinator, MemberRole::Member, MemberRole::Observer];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Leader => "leader",
            MemberRole::Coordinator => "coordinator",
            MemberRole::Member => "member",
            MemberRole::Observer => "observer",
        }
    }
}

impl fmt::Display for MemberRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MemberRole::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown member role `{s}` (expected leader, coordinator, member or observer)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in MemberRole::ALL {
            assert_eq!(role.as_str().parse::<MemberRole>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert!("owner".parse::<MemberRole>().is_err());
    }
}
