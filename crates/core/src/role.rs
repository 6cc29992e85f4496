//! Roles and permissions: the one policy table every authorization check reads.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Researcher,
    AgentManager,
    Observer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    CreateAgent,
    DeleteAgent,
    ViewAgents,
    ModifyAgent,
    CreateCoalition,
    ViewMetrics,
    AdminSystem,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::CreateAgent,
        Permission::DeleteAgent,
        Permission::ViewAgents,
        Permission::ModifyAgent,
        Permission::CreateCoalition,
        Permission::ViewMetrics,
        Permission::AdminSystem,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CreateAgent => "create_agent",
            Permission::DeleteAgent => "delete_agent",
            Permission::ViewAgents => "view_agents",
            Permission::ModifyAgent => "modify_agent",
            Permission::CreateCoalition => "create_coalition",
            Permission::ViewMetrics => "view_metrics",
            Permission::AdminSystem => "admin_system",
        }
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Researcher, Role::AgentManager, Role::Observer];

    /// The original service's table (reference/original-backend.md), kept verbatim.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::Researcher => &[CreateAgent, ViewAgents, ModifyAgent, CreateCoalition, ViewMetrics],
            Role::AgentManager => &[CreateAgent, ViewAgents, ModifyAgent, ViewMetrics],
            Role::Observer => &[ViewAgents, ViewMetrics],
        }
    }

    pub fn has(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::AgentManager => "agent_manager",
            Role::Observer => "observer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (expected admin, researcher, agent_manager or observer)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_original() {
        use Permission::*;
        let expected: [(Role, [bool; 7]); 4] = [
            (Role::Admin, [true, true, true, true, true, true, true]),
            (Role::Researcher, [true, false, true, true, true, true, false]),
            (Role::AgentManager, [true, false, true, true, false, true, false]),
            (Role::Observer, [false, false, true, false, false, true, false]),
        ];
        let order = [CreateAgent, DeleteAgent, ViewAgents, ModifyAgent, CreateCoalition, ViewMetrics, AdminSystem];
        for (role, row) in expected {
            for (permission, allowed) in order.iter().zip(row) {
                assert_eq!(role.has(*permission), allowed, "{role} × {}", permission.as_str());
            }
        }
    }

    #[test]
    fn roles_round_trip_through_strings() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
