//! The text form:
//!
//! ```text
//! # comment
//! [metadata]
//! name: "Grid explorer"
//! [nodes]
//! location: state {num_states: 9}
//! move: action {num_actions: 5}
//! [edges]
//! move -> location: influences
//! ```
//!
//! One statement per line; a `{…}` property block (and the arrays in it) may span lines. Values
//! are JSON values, keys may be bare identifiers, and a bare word is a string. Errors carry the
//! line and column (1-based, in characters).

use serde_json::{Map, Value};

use super::spec::{Edge, EdgeKind, GmnError, GmnErrors, Node, NodeKind, Parsed, Position};

/// Nesting depth of values (arrays and objects) a spec may use.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Metadata,
    Nodes,
    Edges,
}

struct Cursor {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

type PResult<T> = Result<T, GmnError>;

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn here(&self, field: &str) -> Position {
        Position::at(field, self.line, self.col)
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(GmnError::new(self.here("spec"), message))
    }

    /// Spaces and tabs (not newlines).
    fn skip_inline(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    /// Whitespace, newlines and comments (inside property blocks).
    fn skip_all(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.bump();
        }
    }

    /// The end of a statement: optional spaces and comment, then a newline or the end.
    fn end_of_line(&mut self) -> PResult<()> {
        self.skip_inline();
        if self.peek() == Some('#') {
            self.skip_comment();
        }
        match self.peek() {
            None => Ok(()),
            Some('\n') => {
                self.bump();
                Ok(())
            }
            Some(c) => self.err(format!("unexpected {c:?}: expected the end of the line")),
        }
    }

    fn expect(&mut self, c: char, what: &str) -> PResult<()> {
        if self.peek() == Some(c) {
            self.bump();
            Ok(())
        } else {
            self.err(format!("expected {what}, found {}", describe(self.peek())))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<String> {
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            other => {
                return self.err(format!(
                    "expected {what} (a letter or _ followed by letters, digits, _ or -), found {}",
                    describe(other)
                ));
            }
        }
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                // `->` ends an identifier.
                if c == '-' && self.peek_at(1) == Some('>') {
                    break;
                }
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        Ok(s)
    }

    fn value(&mut self, depth: usize) -> PResult<Value> {
        if depth > MAX_DEPTH {
            return self.err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        match self.peek() {
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_all();
                    if self.peek() == Some(']') {
                        self.bump();
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_all();
                    match self.peek() {
                        Some(',') => {
                            self.bump();
                        }
                        Some(']') => {}
                        other => return self.err(format!("expected , or ] in a list, found {}", describe(other))),
                    }
                }
            }
            Some('{') => Ok(Value::Object(self.object(depth + 1)?)),
            Some('"') => self.string().map(Value::String),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let word = self.bareword();
                Ok(match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(word),
                })
            }
            other => self.err(format!("expected a value, found {}", describe(other))),
        }
    }

    fn bareword(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    /// A JSON number, read with serde_json so both forms give identical floats.
    fn number(&mut self) -> PResult<Value> {
        let (line, col) = (self.line, self.col);
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        match serde_json::from_str::<serde_json::Number>(&s) {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => Err(GmnError::new(Position::at("spec", line, col), format!("{s:?} is not a number"))),
        }
    }

    /// A JSON string (escapes included), read with serde_json.
    fn string(&mut self) -> PResult<String> {
        let (line, col) = (self.line, self.col);
        let mut raw = String::from('"');
        self.bump();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(GmnError::new(Position::at("spec", line, col), "unterminated string")),
                Some('\\') => {
                    raw.push('\\');
                    match self.bump() {
                        Some(c) if c != '\n' => raw.push(c),
                        _ => return Err(GmnError::new(Position::at("spec", line, col), "unterminated string")),
                    }
                }
                Some('"') => {
                    raw.push('"');
                    break;
                }
                Some(c) => raw.push(c),
            }
        }
        serde_json::from_str::<String>(&raw)
            .map_err(|e| GmnError::new(Position::at("spec", line, col), format!("invalid string: {e}")))
    }

    /// `{key: value, …}` with bare or quoted keys; a trailing comma is allowed.
    fn object(&mut self, depth: usize) -> PResult<Map<String, Value>> {
        if depth > MAX_DEPTH {
            return self.err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        self.expect('{', "{")?;
        let mut map = Map::new();
        loop {
            self.skip_all();
            if self.peek() == Some('}') {
                self.bump();
                return Ok(map);
            }
            let (line, col) = (self.line, self.col);
            let key = if self.peek() == Some('"') { self.string()? } else { self.ident("a property name")? };
            self.skip_all();
            self.expect(':', ": after the property name")?;
            self.skip_all();
            let value = self.value(depth)?;
            if map.insert(key.clone(), value).is_some() {
                return Err(GmnError::new(Position::at("spec", line, col), format!("property {key:?} is given twice")));
            }
            self.skip_all();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                other => return self.err(format!("expected , or }} in a property block, found {}", describe(other))),
            }
        }
    }
}

fn describe(c: Option<char>) -> String {
    match c {
        None => "the end of the spec".into(),
        Some('\n') => "the end of the line".into(),
        Some(c) => format!("{c:?}"),
    }
}

/// Parses the text form into nodes, edges and metadata (structure only; the graph rules are
/// checked by the caller). Stops at the first syntax error.
pub(crate) fn parse(src: &str) -> Result<Parsed, GmnErrors> {
    let mut cur = Cursor { chars: src.chars().collect(), pos: 0, line: 1, col: 1 };
    let mut section = Section::None;
    let (mut nodes, mut edges, mut metadata) = (Vec::new(), Vec::new(), Map::new());
    let one = |e: GmnError| GmnErrors(vec![e]);
    loop {
        cur.skip_inline();
        match cur.peek() {
            None => break,
            Some('\n') => {
                cur.bump();
                continue;
            }
            Some('#') => {
                cur.skip_comment();
                continue;
            }
            Some('[') => {
                let (line, col) = (cur.line, cur.col);
                cur.bump();
                cur.skip_inline();
                let name = cur.ident("a section name").map_err(one)?;
                cur.skip_inline();
                cur.expect(']', "]").map_err(one)?;
                cur.end_of_line().map_err(one)?;
                section = match name.to_ascii_lowercase().as_str() {
                    "nodes" => Section::Nodes,
                    "edges" => Section::Edges,
                    "metadata" => Section::Metadata,
                    _ => {
                        return Err(one(GmnError::new(
                            Position::at("spec", line, col),
                            format!("unknown section [{name}]: expected [nodes], [edges] or [metadata]"),
                        )));
                    }
                };
                continue;
            }
            _ => {}
        }
        let (line, col) = (cur.line, cur.col);
        match section {
            Section::None => {
                return Err(one(GmnError::new(cur.here("spec"), "a statement before any section: start with [nodes]")));
            }
            Section::Metadata => {
                let key = cur.ident("a metadata key").map_err(one)?;
                cur.skip_inline();
                cur.expect(':', ":").map_err(one)?;
                cur.skip_inline();
                let value = cur.value(0).map_err(one)?;
                cur.end_of_line().map_err(one)?;
                metadata.insert(key, value);
            }
            Section::Nodes => {
                let id = cur.ident("a node id").map_err(one)?;
                cur.skip_inline();
                cur.expect(':', ": after the node id").map_err(one)?;
                cur.skip_inline();
                let (tl, tc) = (cur.line, cur.col);
                let kind_name = cur.ident("a node type").map_err(one)?;
                let position = Position::at(format!("nodes[{}]", nodes.len()), line, col);
                let Some(kind) = NodeKind::parse(&kind_name) else {
                    let all: Vec<_> = NodeKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(one(GmnError::new(
                        Position::at(format!("nodes[{}].type", nodes.len()), tl, tc),
                        format!("unknown node type {kind_name:?}; known: {}", all.join(", ")),
                    )));
                };
                cur.skip_inline();
                let properties = if cur.peek() == Some('{') { cur.object(1).map_err(one)? } else { Map::new() };
                cur.end_of_line().map_err(one)?;
                nodes.push(Node { id, kind, properties, position });
            }
            Section::Edges => {
                let source = cur.ident("an edge source (a node id)").map_err(one)?;
                cur.skip_inline();
                cur.expect('-', "->").map_err(one)?;
                cur.expect('>', "->").map_err(one)?;
                cur.skip_inline();
                let target = cur.ident("an edge target (a node id)").map_err(one)?;
                cur.skip_inline();
                cur.expect(':', ": after the edge target").map_err(one)?;
                cur.skip_inline();
                let (tl, tc) = (cur.line, cur.col);
                let kind_name = cur.ident("an edge type").map_err(one)?;
                let Some(kind) = EdgeKind::parse(&kind_name) else {
                    let all: Vec<_> = EdgeKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(one(GmnError::new(
                        Position::at(format!("edges[{}].type", edges.len()), tl, tc),
                        format!("unknown edge type {kind_name:?}; known: {}", all.join(", ")),
                    )));
                };
                cur.skip_inline();
                let properties = if cur.peek() == Some('{') { cur.object(1).map_err(one)? } else { Map::new() };
                cur.end_of_line().map_err(one)?;
                let position = Position::at(format!("edges[{}]", edges.len()), line, col);
                edges.push(Edge { source, target, kind, properties, position });
            }
        }
    }
    Ok((nodes, edges, metadata))
}
