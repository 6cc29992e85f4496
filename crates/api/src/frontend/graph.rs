//! The knowledge graph the frontend draws: a user's agents, what each believes most (the most
//! likely state of each factor, with its probability), and the coalitions they belong to. Derived
//! on request from the agents and coalitions; nothing here is stored.
use super::agent::status_of;
use crate::agents::AgentView;
use crate::coalitions::CoalitionView;
use serde::Serialize;
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: String,
    pub label: String,
    /// `agent`, `belief` or `coalition`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Agents: their template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Beliefs: the state's probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Agents: whether the user owns it (members of the user's coalitions may be others').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    /// `believes` (agent → belief) or `member_of` (agent → coalition).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub label: String,
    /// Beliefs: the probability; memberships: the member's contribution.
    pub weight: f64,
}

/// An agent with the most likely state of each of its factors.
#[derive(Debug, Clone)]
pub struct Believing {
    pub agent: AgentView,
    pub most_likely: Vec<(usize, f64)>,
}

pub fn agent_node(agent: &AgentView, owned: bool) -> Node {
    Node {
        id: agent.id.to_string(),
        label: agent.name.clone(),
        kind: "agent",
        status: Some(status_of(agent.status).to_owned()),
        template: Some(agent.template.clone()),
        probability: None,
        owned: Some(owned),
    }
}

pub fn coalition_node(coalition: &CoalitionView) -> Node {
    Node {
        id: coalition.id.to_string(),
        label: coalition.name.clone(),
        kind: "coalition",
        status: Some(coalition.status.as_str().to_owned()),
        template: None,
        probability: None,
        owned: None,
    }
}

/// A coalition's membership edges.
pub fn member_edges(coalition: &CoalitionView) -> impl Iterator<Item = Edge> + '_ {
    coalition.members.iter().map(move |member| Edge {
        id: format!("member:{}:{}", coalition.id, member.agent_id),
        source: member.agent_id.to_string(),
        target: coalition.id.to_string(),
        kind: "member_of",
        label: member.role.as_str().to_owned(),
        weight: member.contribution,
    })
}

/// The graph of `agents` (the user's), `coalitions` and `members` (agents of those coalitions that
/// are not the user's). An edge never points at a node the graph lacks.
pub fn build(agents: &[Believing], coalitions: &[CoalitionView], members: &[AgentView]) -> Graph {
    let mut graph = Graph::default();
    let mut present: HashSet<Uuid> = HashSet::new();
    for Believing { agent, most_likely } in agents {
        present.insert(agent.id);
        graph.nodes.push(agent_node(agent, true));
        for (factor, (state, probability)) in most_likely.iter().enumerate() {
            let belief = format!("belief:{}:{factor}", agent.id);
            graph.nodes.push(Node {
                id: belief.clone(),
                label: format!("factor {factor}: state {state}"),
                kind: "belief",
                status: None,
                template: None,
                probability: Some(*probability),
                owned: None,
            });
            graph.edges.push(Edge {
                id: format!("believes:{}:{factor}", agent.id),
                source: agent.id.to_string(),
                target: belief,
                kind: "believes",
                label: format!("p = {probability:.2}"),
                weight: *probability,
            });
        }
    }
    for member in members {
        if present.insert(member.id) {
            graph.nodes.push(agent_node(member, false));
        }
    }
    for coalition in coalitions {
        graph.nodes.push(coalition_node(coalition));
        let known = member_edges(coalition).zip(&coalition.members).filter(|(_, m)| present.contains(&m.agent_id));
        graph.edges.extend(known.map(|(edge, _)| edge));
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;
    use freeagentics_core::AgentStatus;
    use time::OffsetDateTime;

    fn agent(name: &str, owner: Uuid) -> AgentView {
        AgentView {
            id: Uuid::now_v7(),
            owner_id: owner,
            name: name.to_owned(),
            template: "basic-explorer".to_owned(),
            status: AgentStatus::Active,
            capabilities: Vec::new(),
            parameters: serde_json::json!({}),
            gmn_spec: None,
            step_count: 0,
            mean_step_ms: 0.0,
            last_free_energy: None,
            last_active_at: None,
            version: 1,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn agents_their_beliefs_and_only_edges_between_present_nodes() {
        let me = Uuid::now_v7();
        let mine = agent("Scout", me);
        let graph = build(&[Believing { agent: mine.clone(), most_likely: vec![(3, 0.75), (0, 0.5)] }], &[], &[]);
        let kinds: Vec<&str> = graph.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, ["agent", "belief", "belief"]);
        assert_eq!(graph.nodes[1].label, "factor 0: state 3");
        assert_eq!(graph.nodes[1].probability, Some(0.75));
        assert_eq!(graph.edges.len(), 2);
        assert!(graph.edges.iter().all(|e| e.source == mine.id.to_string() && e.kind == "believes"));
        let ids: HashSet<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        assert!(graph.edges.iter().all(|e| ids.contains(e.source.as_str()) && ids.contains(e.target.as_str())));
        let json = serde_json::to_value(&graph.nodes[0]).unwrap();
        assert_eq!(json["type"], "agent");
        assert_eq!(json["status"], "active");
        assert!(json.get("probability").is_none(), "absent, not null");
    }
}
