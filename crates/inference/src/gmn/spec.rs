//! The GMN graph both forms parse into, and its rendering back to either form.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    State,
    Observation,
    Action,
    Belief,
    Preference,
    Transition,
    Likelihood,
    Policy,
    LlmQuery,
}

impl NodeKind {
    pub const ALL: [NodeKind; 9] = [
        NodeKind::State,
        NodeKind::Observation,
        NodeKind::Action,
        NodeKind::Belief,
        NodeKind::Preference,
        NodeKind::Transition,
        NodeKind::Likelihood,
        NodeKind::Policy,
        NodeKind::LlmQuery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::State => "state",
            NodeKind::Observation => "observation",
            NodeKind::Action => "action",
            NodeKind::Belief => "belief",
            NodeKind::Preference => "preference",
            NodeKind::Transition => "transition",
            NodeKind::Likelihood => "likelihood",
            NodeKind::Policy => "policy",
            NodeKind::LlmQuery => "llm_query",
        }
    }

    pub fn parse(s: &str) -> Option<NodeKind> {
        NodeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    DependsOn,
    Influences,
    Updates,
    Queries,
    Generates,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 5] =
        [EdgeKind::DependsOn, EdgeKind::Influences, EdgeKind::Updates, EdgeKind::Queries, EdgeKind::Generates];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::DependsOn => "depends_on",
            EdgeKind::Influences => "influences",
            EdgeKind::Updates => "updates",
            EdgeKind::Queries => "queries",
            EdgeKind::Generates => "generates",
        }
    }

    pub fn parse(s: &str) -> Option<EdgeKind> {
        EdgeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where something was written: a field path (both forms) and, for the text form, its line and
/// column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Position {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Position {
    pub(crate) fn field(field: impl Into<String>) -> Self {
        Self { field: field.into(), line: None, column: None }
    }

    pub(crate) fn at(field: impl Into<String>, line: usize, column: usize) -> Self {
        Self { field: field.into(), line: Some(line), column: Some(column) }
    }

    /// The same place, one field deeper (`nodes[2]` → `nodes[2].properties.matrix`).
    pub(crate) fn child(&self, sub: &str) -> Self {
        Self { field: format!("{}{sub}", self.field), line: self.line, column: self.column }
    }
}

/// One problem with a GMN spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GmnError {
    #[serde(flatten)]
    pub position: Position,
    pub message: String,
}

impl GmnError {
    pub(crate) fn new(position: Position, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }

    pub fn to_field_error(&self) -> FieldError {
        let message = match (self.position.line, self.position.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.message),
            _ => self.message.clone(),
        };
        FieldError::new(self.position.field.clone(), message)
    }
}

impl fmt::Display for GmnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fe = self.to_field_error();
        write!(f, "{}: {}", fe.field, fe.message)
    }
}

/// The problems found in a spec (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct GmnErrors(pub Vec<GmnError>);

impl GmnErrors {
    pub(crate) fn one(position: Position, message: impl Into<String>) -> Self {
        Self(vec![GmnError::new(position, message)])
    }

    /// `{field, message}` pairs for a 422, fields prefixed with `prefix` when it is not empty.
    pub fn field_errors(&self, prefix: &str) -> Vec<FieldError> {
        self.0
            .iter()
            .map(|e| {
                let fe = e.to_field_error();
                if prefix.is_empty() { fe } else { FieldError::new(format!("{prefix}.{}", fe.field), fe.message) }
            })
            .collect()
    }
}

/// What either form's reader produces, before the graph rules are checked.
pub(crate) type Parsed = (Vec<Node>, Vec<Edge>, Map<String, Value>);

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub properties: Map<String, Value>,
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub kind: EdgeKind,
    pub properties: Map<String, Value>,
    pub position: Position,
}

/// A parsed (and structurally checked) GMN specification.
#[derive(Debug, Clone, PartialEq)]
pub struct GmnSpec {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub metadata: Map<String, Value>,
}

impl GmnSpec {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let mut o = Map::new();
                o.insert("id".into(), n.id.clone().into());
                o.insert("type".into(), n.kind.as_str().into());
                if !n.properties.is_empty() {
                    o.insert("properties".into(), Value::Object(n.properties.clone()));
                }
                Value::Object(o)
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|e| {
                let mut o = Map::new();
                o.insert("source".into(), e.source.clone().into());
                o.insert("target".into(), e.target.clone().into());
                o.insert("type".into(), e.kind.as_str().into());
                if !e.properties.is_empty() {
                    o.insert("properties".into(), Value::Object(e.properties.clone()));
                }
                Value::Object(o)
            })
            .collect();
        let mut o = Map::new();
        o.insert("nodes".into(), Value::Array(nodes));
        o.insert("edges".into(), Value::Array(edges));
        if !self.metadata.is_empty() {
            o.insert("metadata".into(), Value::Object(self.metadata.clone()));
        }
        Value::Object(o)
    }

    /// The text form (`[metadata]`, `[nodes]`, `[edges]` sections).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.metadata.is_empty() {
            out.push_str("[metadata]\n");
            for (k, v) in &self.metadata {
                out.push_str(&format!("{}: {}\n", key_text(k), v));
            }
            out.push('\n');
        }
        out.push_str("[nodes]\n");
        for n in &self.nodes {
            out.push_str(&format!("{}: {}{}\n", n.id, n.kind.as_str(), props_text(&n.properties)));
        }
        out.push_str("\n[edges]\n");
        for e in &self.edges {
            out.push_str(&format!("{} -> {}: {}{}\n", e.source, e.target, e.kind.as_str(), props_text(&e.properties)));
        }
        out
    }
}

pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn key_text(k: &str) -> String {
    if is_ident(k) && !matches!(k, "true" | "false" | "null") { k.to_string() } else { Value::from(k).to_string() }
}

fn props_text(p: &Map<String, Value>) -> String {
    if p.is_empty() {
        return String::new();
    }
    let items: Vec<String> = p.iter().map(|(k, v)| format!("{}: {}", key_text(k), v)).collect();
    format!(" {{{}}}", items.join(", "))
}
