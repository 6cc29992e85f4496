//! Template parameters: their description for listings and a reader that checks them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Integer,
    Number,
    /// `[row, column]`.
    Cell,
    /// A list of `[row, column]`.
    Cells,
    /// A list of integers.
    Integers,
    /// One of `choices`.
    Choice,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// `null` when the default depends on other parameters (explained in the description).
    pub default: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<&'static str>>,
    pub description: &'static str,
}

impl ParamSpec {
    pub(crate) fn int(name: &'static str, default: i64, min: i64, max: i64, description: &'static str) -> Self {
        Self {
            name,
            kind: ParamType::Integer,
            default: default.into(),
            min: Some(min as f64),
            max: Some(max as f64),
            choices: None,
            description,
        }
    }

    pub(crate) fn number(name: &'static str, default: f64, min: f64, max: f64, description: &'static str) -> Self {
        Self {
            name,
            kind: ParamType::Number,
            default: default.into(),
            min: Some(min),
            max: Some(max),
            choices: None,
            description,
        }
    }

    pub(crate) fn other(name: &'static str, kind: ParamType, default: Value, description: &'static str) -> Self {
        Self { name, kind, default, min: None, max: None, choices: None, description }
    }

    pub(crate) fn choice(
        name: &'static str,
        default: &'static str,
        choices: Vec<&'static str>,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            kind: ParamType::Choice,
            default: default.into(),
            min: None,
            max: None,
            choices: Some(choices),
            description,
        }
    }
}

/// Reads parameters, collecting one error per bad one.
pub(crate) struct Params<'a> {
    obj: Option<&'a Map<String, Value>>,
    pub errors: Vec<FieldError>,
}

impl<'a> Params<'a> {
    pub fn new(value: &'a Value, specs: &[ParamSpec]) -> Self {
        let mut errors = Vec::new();
        let obj = match value {
            Value::Null => None,
            Value::Object(o) => {
                for key in o.keys() {
                    if !specs.iter().any(|s| s.name == key) {
                        let names: Vec<_> = specs.iter().map(|s| s.name).collect();
                        errors.push(FieldError::new(
                            format!("params.{key}"),
                            format!("unknown parameter; known: {}", names.join(", ")),
                        ));
                    }
                }
                Some(o)
            }
            _ => {
                errors.push(FieldError::new("params", "expected an object"));
                None
            }
        };
        Self { obj, errors }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.and_then(|o| o.get(name)).filter(|v| !v.is_null())
    }

    fn fail<T>(&mut self, name: &str, message: String, fallback: T) -> T {
        self.errors.push(FieldError::new(format!("params.{name}"), message));
        fallback
    }

    pub fn int(&mut self, spec: &ParamSpec) -> i64 {
        let default = spec.default.as_i64().unwrap_or(0);
        let Some(v) = self.get(spec.name) else { return default };
        let (min, max) = (spec.min.unwrap_or(f64::MIN), spec.max.unwrap_or(f64::MAX));
        match v.as_i64() {
            Some(x) if (x as f64) >= min && (x as f64) <= max => x,
            _ => self.fail(spec.name, format!("expected an integer between {min} and {max}, got {v}"), default),
        }
    }

    pub fn number(&mut self, spec: &ParamSpec) -> f64 {
        let default = spec.default.as_f64().unwrap_or(0.0);
        let Some(v) = self.get(spec.name) else { return default };
        let (min, max) = (spec.min.unwrap_or(f64::MIN), spec.max.unwrap_or(f64::MAX));
        match v.as_f64() {
            Some(x) if x >= min && x <= max => x,
            _ => self.fail(spec.name, format!("expected a number between {min} and {max}, got {v}"), default),
        }
    }

    pub fn choice(&mut self, spec: &ParamSpec) -> &'static str {
        let choices = spec.choices.clone().unwrap_or_default();
        let default = choices.first().copied().unwrap_or("");
        let default = choices.iter().copied().find(|c| spec.default == *c).unwrap_or(default);
        let Some(v) = self.get(spec.name) else { return default };
        match v.as_str().and_then(|s| choices.iter().copied().find(|c| *c == s)) {
            Some(c) => c,
            None => self.fail(spec.name, format!("expected one of {}, got {v}", choices.join(", ")), default),
        }
    }

    /// A cell inside `rows × cols`, or `None` when absent.
    pub fn cell(&mut self, name: &str, rows: usize, cols: usize) -> Option<(usize, usize)> {
        let v = self.get(name)?;
        match parse_cell(v, rows, cols) {
            Ok(c) => Some(c),
            Err(m) => self.fail(name, m, None),
        }
    }

    /// A list of cells inside `rows × cols` (at most `max`), or `None` when absent.
    pub fn cells(&mut self, name: &str, rows: usize, cols: usize, max: usize) -> Option<Vec<(usize, usize)>> {
        let v = self.get(name)?;
        let Value::Array(items) = v else {
            return self.fail(name, "expected a list of [row, column] cells".into(), None);
        };
        if items.len() > max {
            return self.fail(name, format!("{} cells, at most {max}", items.len()), None);
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match parse_cell(item, rows, cols) {
                Ok(c) => out.push(c),
                Err(m) => return self.fail(&format!("{name}[{i}]"), m, None),
            }
        }
        Some(out)
    }

    /// A list of integers in `0..=max_value` with `min_len..=max_len` entries, or `None` when absent.
    pub fn integers(&mut self, name: &str, max_value: usize, min_len: usize, max_len: usize) -> Option<Vec<usize>> {
        let v = self.get(name)?;
        let Value::Array(items) = v else { return self.fail(name, "expected a list of integers".into(), None) };
        if items.len() < min_len || items.len() > max_len {
            return self.fail(name, format!("{} entries, expected {min_len} to {max_len}", items.len()), None);
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_u64() {
                Some(x) if x as usize <= max_value => out.push(x as usize),
                _ => {
                    return self.fail(
                        &format!("{name}[{i}]"),
                        format!("expected an integer between 0 and {max_value}, got {item}"),
                        None,
                    );
                }
            }
        }
        Some(out)
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(format!("params.{name}"), message));
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

fn parse_cell(v: &Value, rows: usize, cols: usize) -> Result<(usize, usize), String> {
    let pair = v.as_array().filter(|a| a.len() == 2).and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)));
    match pair {
        Some((r, c)) if (r as usize) < rows && (c as usize) < cols => Ok((r as usize, c as usize)),
        _ => Err(format!("expected [row, column] with row in 0..{rows} and column in 0..{cols}, got {v}")),
    }
}
