//! A model as JSON: `{"A": [...], "B": [...], "C": [...], "D": [...], "E": [...],
//! "control_factors": [...]}` with every tensor as nested arrays in pymdp's shapes. `A`, `B`,
//! `C` and `D` are lists with one tensor per modality or factor, even when there is one.

use ndarray::{Array1, Array3, Ix1, Ix3};
use serde_json::{Map, Value};

use crate::error::{ErrorSink, ModelError, ModelErrors, Rule};
use crate::limits::Limits;
use crate::model::{Model, ModelParts, Transition};
use crate::tensor::{json_number, kind, parse_tensor, to_json};

const KEYS: [&str; 6] = ["A", "B", "C", "D", "E", "control_factors"];

impl Model {
    /// Parses and validates a model from JSON; never panics, whatever the input.
    pub fn from_json(value: &Value, limits: &Limits) -> Result<Model, ModelErrors> {
        let Value::Object(obj) = value else {
            return Err(ModelErrors::single(ModelError::new(
                "model",
                vec![],
                Rule::Type,
                format!("expected an object with A and B, found {}", kind(value)),
            )));
        };
        let mut sink = ErrorSink::default();
        for key in obj.keys() {
            if !KEYS.contains(&key.as_str()) {
                sink.push(ModelError::new(key.clone(), vec![], Rule::UnknownKey, format!("unknown key {key:?}")));
            }
        }
        let mut budget = limits.max_tensor_elements;
        let b = parse_list(obj, "B", limits.max_factors, true, &mut sink, |v, name, sink| {
            let t = take(parse_tensor(v, name, Some(3), 3, budget), sink)?;
            budget = budget.saturating_sub(t.len());
            let t: Array3<f64> = take(t.into_dimensionality::<Ix3>().map_err(|e| shape_err(name, e)), sink)?;
            Some(Transition::from_dense(t))
        });
        let rank = b.as_ref().map(|b| b.len() + 1);
        let a = parse_list(obj, "A", limits.max_modalities, true, &mut sink, |v, name, sink| {
            let t = take(parse_tensor(v, name, rank, limits.max_factors + 1, budget), sink)?;
            budget = budget.saturating_sub(t.len());
            Some(t)
        });
        let mut vector = |v: &Value, name: &str, sink: &mut ErrorSink| {
            let t = take(parse_tensor(v, name, Some(1), 1, budget), sink)?;
            budget = budget.saturating_sub(t.len());
            take(t.into_dimensionality::<Ix1>().map_err(|e| shape_err(name, e)), sink)
        };
        let c = parse_list(obj, "C", limits.max_modalities, false, &mut sink, &mut vector);
        let d = parse_list(obj, "D", limits.max_factors, false, &mut sink, &mut vector);
        let e: Option<Array1<f64>> = match obj.get("E") {
            None | Some(Value::Null) => None,
            Some(v) => vector(v, "E", &mut sink),
        };
        let control_factors = match obj.get("control_factors") {
            None | Some(Value::Null) => None,
            Some(v) => parse_indices(v, &mut sink),
        };
        if !sink.is_empty() {
            return Err(ModelErrors(sink.errors));
        }
        let (Some(a), Some(b)) = (a, b) else {
            return Err(ModelErrors::single(ModelError::new("model", vec![], Rule::Required, "A and B are required")));
        };
        Model::new(ModelParts { a, b, c, d, e, control_factors }, limits)
    }

    /// The model as JSON in the form [`Model::from_json`] reads (sparse tensors written dense).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("A".into(), Value::Array(self.a.iter().map(to_json).collect()));
        obj.insert("B".into(), Value::Array(self.b.iter().map(|b| to_json(&b.to_dense().into_dyn())).collect()));
        let vec = |v: &Array1<f64>| Value::Array(v.iter().map(|&x| json_number(x)).collect());
        obj.insert("C".into(), Value::Array(self.c.iter().map(vec).collect()));
        obj.insert("D".into(), Value::Array(self.d.iter().map(vec).collect()));
        if let Some(e) = &self.e {
            obj.insert("E".into(), vec(e));
        }
        obj.insert(
            "control_factors".into(),
            Value::Array(self.control_factors.iter().map(|&f| Value::from(f)).collect()),
        );
        Value::Object(obj)
    }
}

fn take<T>(r: Result<T, ModelError>, sink: &mut ErrorSink) -> Option<T> {
    match r {
        Ok(t) => Some(t),
        Err(e) => {
            sink.push(e);
            None
        }
    }
}

fn shape_err(name: &str, e: ndarray::ShapeError) -> ModelError {
    ModelError::new(name, vec![], Rule::Shape, e.to_string())
}

/// A list of tensors under `key`; `None` when absent (and optional) or when any entry failed.
fn parse_list<T>(
    obj: &Map<String, Value>,
    key: &str,
    max: usize,
    required: bool,
    sink: &mut ErrorSink,
    mut item: impl FnMut(&Value, &str, &mut ErrorSink) -> Option<T>,
) -> Option<Vec<T>> {
    let value = match obj.get(key) {
        None | Some(Value::Null) => {
            if required {
                sink.push(ModelError::new(key, vec![], Rule::Required, format!("{key} is required")));
            }
            return None;
        }
        Some(v) => v,
    };
    let Value::Array(items) = value else {
        sink.push(ModelError::new(
            key,
            vec![],
            Rule::Type,
            format!("expected a list with one tensor per entry, found {}", kind(value)),
        ));
        return None;
    };
    if items.len() > max {
        sink.push(ModelError::new(key, vec![], Rule::Limit, format!("{} entries, at most {max}", items.len())));
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, v) in items.iter().enumerate() {
        match item(v, &format!("{key}[{i}]"), sink) {
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn parse_indices(v: &Value, sink: &mut ErrorSink) -> Option<Vec<usize>> {
    let Value::Array(items) = v else {
        sink.push(ModelError::new(
            "control_factors",
            vec![],
            Rule::Type,
            format!("expected a list of factor indices, found {}", kind(v)),
        ));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        match x.as_u64() {
            Some(f) if f < 1 << 16 => out.push(f as usize),
            _ => {
                sink.push(ModelError::new(
                    "control_factors",
                    vec![i],
                    Rule::Type,
                    format!("expected a factor index, found {x}"),
                ));
                return None;
            }
        }
    }
    Some(out)
}
