//! GMN (generative model notation): one parser for both forms, the JSON form
//! (`{nodes, edges, metadata?}`) and the text form (`[nodes]`/`[edges]` sections), and the
//! conversion of a spec to a model. Inputs over [`MAX_SPEC_BYTES`] are refused before parsing;
//! no input makes the parser panic.

mod convert;
mod dimensions;
mod examples;
mod json;
mod spec;
mod text;

use std::collections::HashSet;

use serde_json::Value;

pub use dimensions::{Dimensions, FactorDimension, GmnModel, ModalityDimension};
pub use examples::{Example, examples};
pub use spec::GmnSpec;
pub use spec::{Edge, EdgeKind, GmnError, GmnErrors, Node, NodeKind, Position};

use crate::limits::Limits;

/// The size limit of a spec in either form (the original service's).
pub const MAX_SPEC_BYTES: usize = 100 * 1024;

/// Which form a spec was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Json,
    Text,
}

/// The form of `src`: JSON when its first non-blank character is `{`.
pub fn detect_form(src: &str) -> Form {
    if src.trim_start().starts_with('{') { Form::Json } else { Form::Text }
}

/// Parses a spec in either form and checks the graph rules: unique identifier-like node ids,
/// edge endpoints that exist, at least one state, one observation and one action node.
pub fn parse(src: &str) -> Result<GmnSpec, GmnErrors> {
    if src.len() > MAX_SPEC_BYTES {
        return Err(GmnErrors::one(Position::field("spec"), format!("{} bytes, at most {MAX_SPEC_BYTES}", src.len())));
    }
    let (nodes, edges, metadata) = match detect_form(src) {
        Form::Json => json::parse(src)?,
        Form::Text => text::parse(src)?,
    };
    check_graph(GmnSpec { nodes, edges, metadata })
}

/// Parses the JSON form given as a value (a spec embedded in a larger JSON request).
pub fn parse_value(value: &Value) -> Result<GmnSpec, GmnErrors> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_SPEC_BYTES {
        return Err(GmnErrors::one(Position::field("spec"), format!("{size} bytes, at most {MAX_SPEC_BYTES}")));
    }
    let (nodes, edges, metadata) = json::from_value(value)?;
    check_graph(GmnSpec { nodes, edges, metadata })
}

/// Parses, converts and compiles (so every limit is checked): the answer of a validation request.
pub fn validate(src: &str, limits: &Limits) -> Result<Dimensions, GmnErrors> {
    let spec = parse(src)?;
    let converted = spec.to_model(limits)?;
    crate::compiled::CompiledModel::new(&converted.model, &converted.settings, limits).map_err(|e| {
        GmnErrors(
            e.field_errors("").into_iter().map(|fe| GmnError::new(Position::field(fe.field), fe.message)).collect(),
        )
    })?;
    Ok(converted.dimensions)
}

fn check_graph(spec: GmnSpec) -> Result<GmnSpec, GmnErrors> {
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    for n in &spec.nodes {
        if !spec::is_ident(&n.id) {
            errors.push(GmnError::new(
                n.position.child(".id"),
                format!("{:?} is not an identifier (a letter or _ followed by letters, digits, _ or -)", n.id),
            ));
        } else if !ids.insert(n.id.as_str()) {
            errors.push(GmnError::new(n.position.child(".id"), format!("node id {:?} is used twice", n.id)));
        }
    }
    for e in &spec.edges {
        for (end, id) in [("source", &e.source), ("target", &e.target)] {
            if !ids.contains(id.as_str()) {
                errors.push(GmnError::new(e.position.child(&format!(".{end}")), format!("no node with id {id:?}")));
            }
        }
    }
    for kind in [NodeKind::State, NodeKind::Observation, NodeKind::Action] {
        if !spec.nodes.iter().any(|n| n.kind == kind) {
            errors.push(GmnError::new(
                Position::field("nodes"),
                format!("at least one {} node is required", kind.as_str()),
            ));
        }
    }
    errors.truncate(crate::error::MAX_REPORTED_ERRORS);
    if errors.is_empty() { Ok(spec) } else { Err(GmnErrors(errors)) }
}
