//! Nested JSON arrays → dense tensors, with the position of every problem. Never panics: depth is
//! bounded by the expected rank and the element count is checked before anything is allocated.

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

use crate::error::{ModelError, Rule};

/// Parses `value` as a tensor of rank `rank` (or, when `None`, the rank its first entries have,
/// at most `max_rank`). `budget` is the number of elements it may hold.
pub(crate) fn parse_tensor(
    value: &Value,
    name: &str,
    rank: Option<usize>,
    max_rank: usize,
    budget: usize,
) -> Result<ArrayD<f64>, ModelError> {
    let shape = infer_shape(value, name, rank, max_rank)?;
    let mut count: usize = 1;
    for &d in &shape {
        count = count.saturating_mul(d);
    }
    if count > budget {
        return Err(ModelError::new(
            name,
            vec![],
            Rule::Limit,
            format!("shape {shape:?} holds {count} elements, more than the {budget} left under max_tensor_elements"),
        ));
    }
    let mut data = Vec::with_capacity(count);
    let mut index = Vec::with_capacity(shape.len());
    fill(value, name, &shape, &mut index, &mut data)?;
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| ModelError::new(name, vec![], Rule::Shape, format!("inconsistent shape: {e}")))
}

fn infer_shape(value: &Value, name: &str, rank: Option<usize>, max_rank: usize) -> Result<Vec<usize>, ModelError> {
    let want = rank.unwrap_or(max_rank);
    let mut shape = Vec::new();
    let mut cur = value;
    loop {
        match cur {
            Value::Array(items) => {
                if shape.len() == want {
                    let msg = match rank {
                        Some(r) => format!("expected a tensor of rank {r}, found deeper nesting"),
                        None => format!("nesting deeper than rank {max_rank}"),
                    };
                    return Err(ModelError::new(name, vec![0; shape.len()], Rule::Shape, msg));
                }
                if items.is_empty() {
                    return Err(ModelError::new(
                        name,
                        vec![0; shape.len()],
                        Rule::Shape,
                        "empty dimension (every dimension needs at least one entry)",
                    ));
                }
                shape.push(items.len());
                cur = &items[0];
            }
            Value::Number(_) => {
                if let Some(r) = rank
                    && shape.len() != r
                {
                    return Err(ModelError::new(
                        name,
                        vec![0; shape.len()],
                        Rule::Shape,
                        format!("expected a tensor of rank {r}, found a number at depth {}", shape.len()),
                    ));
                }
                if shape.is_empty() {
                    return Err(ModelError::new(name, vec![], Rule::Type, "expected an array, found a number"));
                }
                return Ok(shape);
            }
            other => {
                return Err(ModelError::new(
                    name,
                    vec![0; shape.len()],
                    Rule::Type,
                    format!(
                        "expected {}, found {}",
                        if shape.is_empty() { "an array" } else { "a number or an array" },
                        kind(other)
                    ),
                ));
            }
        }
    }
}

fn fill(
    value: &Value,
    name: &str,
    shape: &[usize],
    index: &mut Vec<usize>,
    out: &mut Vec<f64>,
) -> Result<(), ModelError> {
    let depth = index.len();
    if depth == shape.len() {
        return match value {
            Value::Number(n) => match n.as_f64() {
                Some(x) => {
                    out.push(x);
                    Ok(())
                }
                None => Err(ModelError::new(name, index.clone(), Rule::Finite, "number out of range")),
            },
            other => Err(ModelError::new(
                name,
                index.clone(),
                Rule::Type,
                format!("expected a number, found {}", kind(other)),
            )),
        };
    }
    let Value::Array(items) = value else {
        return Err(ModelError::new(
            name,
            index.clone(),
            Rule::Shape,
            format!("expected an array of {} entries, found {}", shape[depth], kind(value)),
        ));
    };
    if items.len() != shape[depth] {
        return Err(ModelError::new(
            name,
            index.clone(),
            Rule::Shape,
            format!("ragged: {} entries where the first sibling has {}", items.len(), shape[depth]),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        index.push(i);
        let r = fill(item, name, shape, index, out);
        index.pop();
        r?;
    }
    Ok(())
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes a dense tensor as nested JSON arrays.
pub(crate) fn to_json(t: &ArrayD<f64>) -> Value {
    fn rec(data: &[f64], shape: &[usize]) -> Value {
        if shape.len() == 1 {
            return Value::Array(data.iter().map(|&x| json_number(x)).collect());
        }
        let stride: usize = shape[1..].iter().product();
        Value::Array((0..shape[0]).map(|i| rec(&data[i * stride..(i + 1) * stride], &shape[1..])).collect())
    }
    let std = t.as_standard_layout();
    match std.as_slice() {
        Some(data) if !t.shape().is_empty() => rec(data, t.shape()),
        _ => Value::Array(Vec::new()),
    }
}

pub(crate) fn json_number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_nested_arrays_in_c_order() {
        let t = parse_tensor(&json!([[1, 2, 3], [4, 5, 6]]), "A[0]", Some(2), 4, 100).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t[[1, 0]], 4.0);
        assert_eq!(to_json(&t), json!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    }

    #[test]
    fn ragged_and_typed_errors_carry_the_index() {
        let e = parse_tensor(&json!([[1, 2], [3]]), "B[0]", Some(2), 4, 100).unwrap_err();
        assert_eq!((e.index.clone(), e.rule), (vec![1], Rule::Shape));
        let e = parse_tensor(&json!([[1, 2], [3, "x"]]), "B[0]", Some(2), 4, 100).unwrap_err();
        assert_eq!((e.field(), e.rule), ("B[0][1][1]".to_string(), Rule::Type));
        let e = parse_tensor(&json!([1, 2]), "A[0]", Some(2), 4, 100).unwrap_err();
        assert_eq!(e.rule, Rule::Shape);
        let e = parse_tensor(&json!([[[1]]]), "A[0]", Some(2), 4, 100).unwrap_err();
        assert_eq!(e.rule, Rule::Shape);
        let e = parse_tensor(&json!([[]]), "A[0]", Some(2), 4, 100).unwrap_err();
        assert_eq!(e.rule, Rule::Shape);
        let e = parse_tensor(&json!([[1, 2], [3, 4]]), "A[0]", Some(2), 4, 3).unwrap_err();
        assert_eq!(e.rule, Rule::Limit);
    }

    #[test]
    fn inferred_rank_is_bounded() {
        let t = parse_tensor(&json!([[[1], [2]]]), "A[0]", None, 4, 100).unwrap();
        assert_eq!(t.shape(), &[1, 2, 1]);
        let e = parse_tensor(&json!([[[[[1]]]]]), "A[0]", None, 4, 100).unwrap_err();
        assert_eq!(e.rule, Rule::Shape);
    }
}
