//! The JSON form: `{"nodes": [{"id", "type", "properties"?}], "edges": [{"source", "target",
//! "type", "properties"?}], "metadata"?}`. Syntax errors carry serde_json's line and column,
//! structural ones the field path.

use serde_json::{Map, Value};

use super::spec::{Edge, EdgeKind, GmnError, GmnErrors, Node, NodeKind, Parsed, Position};
use crate::tensor::kind;

pub(crate) fn parse(src: &str) -> Result<Parsed, GmnErrors> {
    let value: Value = serde_json::from_str(src)
        .map_err(|e| GmnErrors::one(Position::at("spec", e.line(), e.column()), format!("invalid JSON: {e}")))?;
    from_value(&value)
}

pub(crate) fn from_value(value: &Value) -> Result<Parsed, GmnErrors> {
    let mut errors = Vec::new();
    let Value::Object(root) = value else {
        return Err(GmnErrors::one(
            Position::field("spec"),
            format!("expected an object with nodes and edges, found {}", kind(value)),
        ));
    };
    for key in root.keys() {
        if !matches!(key.as_str(), "nodes" | "edges" | "metadata") {
            errors.push(GmnError::new(Position::field(key.clone()), "unknown key: expected nodes, edges and metadata"));
        }
    }
    let list = |key: &str, errors: &mut Vec<GmnError>| -> Vec<Value> {
        match root.get(key) {
            Some(Value::Array(items)) => items.clone(),
            None => {
                errors.push(GmnError::new(Position::field(key), "required"));
                Vec::new()
            }
            Some(other) => {
                errors.push(GmnError::new(Position::field(key), format!("expected a list, found {}", kind(other))));
                Vec::new()
            }
        }
    };
    let mut nodes = Vec::new();
    for (i, v) in list("nodes", &mut errors).iter().enumerate() {
        let pos = Position::field(format!("nodes[{i}]"));
        let Some(obj) = object(v, &pos, &["id", "type", "properties", "metadata"], &mut errors) else { continue };
        let id = string(obj, "id", &pos, &mut errors);
        let kind_name = string(obj, "type", &pos, &mut errors);
        let properties = properties(obj, &pos, &mut errors);
        let (Some(id), Some(kind_name), Some(properties)) = (id, kind_name, properties) else { continue };
        match NodeKind::parse(&kind_name) {
            Some(kind) => nodes.push(Node { id, kind, properties, position: pos }),
            None => {
                let all: Vec<_> = NodeKind::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(GmnError::new(
                    pos.child(".type"),
                    format!("unknown node type {kind_name:?}; known: {}", all.join(", ")),
                ));
            }
        }
    }
    let mut edges = Vec::new();
    for (i, v) in list("edges", &mut errors).iter().enumerate() {
        let pos = Position::field(format!("edges[{i}]"));
        let Some(obj) = object(v, &pos, &["source", "target", "type", "properties"], &mut errors) else { continue };
        let source = string(obj, "source", &pos, &mut errors);
        let target = string(obj, "target", &pos, &mut errors);
        let kind_name = string(obj, "type", &pos, &mut errors);
        let properties = properties(obj, &pos, &mut errors);
        let (Some(source), Some(target), Some(kind_name), Some(properties)) = (source, target, kind_name, properties)
        else {
            continue;
        };
        match EdgeKind::parse(&kind_name) {
            Some(kind) => edges.push(Edge { source, target, kind, properties, position: pos }),
            None => {
                let all: Vec<_> = EdgeKind::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(GmnError::new(
                    pos.child(".type"),
                    format!("unknown edge type {kind_name:?}; known: {}", all.join(", ")),
                ));
            }
        }
    }
    let metadata = match root.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            errors
                .push(GmnError::new(Position::field("metadata"), format!("expected an object, found {}", kind(other))));
            Map::new()
        }
    };
    if errors.is_empty() { Ok((nodes, edges, metadata)) } else { Err(GmnErrors(errors)) }
}

fn object<'a>(
    v: &'a Value,
    pos: &Position,
    keys: &[&str],
    errors: &mut Vec<GmnError>,
) -> Option<&'a Map<String, Value>> {
    let Value::Object(obj) = v else {
        errors.push(GmnError::new(pos.clone(), format!("expected an object, found {}", kind(v))));
        return None;
    };
    for key in obj.keys() {
        if !keys.contains(&key.as_str()) {
            errors.push(GmnError::new(
                pos.child(&format!(".{key}")),
                format!("unknown key: expected {}", keys.join(", ")),
            ));
        }
    }
    Some(obj)
}

fn string(obj: &Map<String, Value>, key: &str, pos: &Position, errors: &mut Vec<GmnError>) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            errors.push(GmnError::new(pos.child(&format!(".{key}")), "required"));
            None
        }
        Some(other) => {
            errors.push(GmnError::new(
                pos.child(&format!(".{key}")),
                format!("expected a string, found {}", kind(other)),
            ));
            None
        }
    }
}

fn properties(obj: &Map<String, Value>, pos: &Position, errors: &mut Vec<GmnError>) -> Option<Map<String, Value>> {
    match obj.get("properties") {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(m)) => Some(m.clone()),
        Some(other) => {
            errors.push(GmnError::new(pos.child(".properties"), format!("expected an object, found {}", kind(other))));
            None
        }
    }
}
