//! Error types. Every error can be flattened into `{field, message}` pairs (`FieldError`), which
//! is what an HTTP layer answers as 422 validation details; the structured variants keep the
//! tensor, index and rule for programmatic use.

use std::fmt;

use serde::Serialize;

/// One validation problem addressed by a field path (`A[1][0][3][2]`, `observations[2][1]`,
/// `params.width`, `nodes[3].properties.matrix`), as an API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The rule a model tensor broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A JSON value of the wrong type (a string where a number or an array belongs, …).
    Type,
    /// Wrong rank, ragged nesting, or a dimension that disagrees with another tensor.
    Shape,
    /// NaN or infinity (JSON cannot carry them, in-process callers can).
    Finite,
    NonNegative,
    /// Columns (the first axis) of A and B sum to 1.
    ColumnsNormalised,
    /// D and E sum to 1.
    Normalised,
    /// A configured size limit.
    Limit,
    /// A missing required tensor, or an unknown key.
    Required,
    /// `control_factors` disagrees with B.
    ControlFactors,
    /// A key the model does not have.
    UnknownKey,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Type => "entries are numbers in nested arrays",
            Rule::Shape => "shape",
            Rule::Finite => "entries are finite",
            Rule::NonNegative => "entries are non-negative",
            Rule::ColumnsNormalised => "columns sum to 1 within 1e-6",
            Rule::Normalised => "sums to 1 within 1e-6",
            Rule::Limit => "size limit",
            Rule::Required => "required",
            Rule::ControlFactors => "control_factors lists exactly the factors with more than one control",
            Rule::UnknownKey => "known keys are A, B, C, D, E and control_factors",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem with a model: which tensor (`A[1]`, `B[0]`, `C[2]`, `D[0]`, `E`,
/// `control_factors`, `model`), where in it (the index of the offending entry; for a column rule
/// the column's first entry), and which rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelError {
    pub tensor: String,
    pub index: Vec<usize>,
    pub rule: Rule,
    pub message: String,
}

impl ModelError {
    pub fn new(tensor: impl Into<String>, index: Vec<usize>, rule: Rule, message: impl Into<String>) -> Self {
        Self { tensor: tensor.into(), index, rule, message: message.into() }
    }

    /// `A[1][0][3][2]`: the tensor followed by the index.
    pub fn field(&self) -> String {
        let mut out = self.tensor.clone();
        for i in &self.index {
            out.push_str(&format!("[{i}]"));
        }
        out
    }

    pub fn to_field_error(&self) -> FieldError {
        FieldError::new(self.field(), format!("{} ({})", self.message, self.rule))
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field(), self.message, self.rule)
    }
}

/// At most this many errors are collected from one model: enough to fix a batch at a time,
/// bounded so a huge broken tensor cannot produce a huge answer.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// The problems found in a model (never empty).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ModelErrors(pub Vec<ModelError>);

impl ModelErrors {
    pub fn single(e: ModelError) -> Self {
        Self(vec![e])
    }

    pub fn field_errors(&self) -> Vec<FieldError> {
        self.0.iter().map(ModelError::to_field_error).collect()
    }

    /// The same errors with every field prefixed (`model.` when the model is one field of a
    /// larger request).
    pub fn field_errors_under(&self, prefix: &str) -> Vec<FieldError> {
        self.0
            .iter()
            .map(|e| {
                let fe = e.to_field_error();
                FieldError::new(format!("{prefix}.{}", fe.field), fe.message)
            })
            .collect()
    }
}

impl fmt::Display for ModelErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModelErrors {}

/// Collects model errors up to `MAX_REPORTED_ERRORS`.
#[derive(Debug, Default)]
pub(crate) struct ErrorSink {
    pub errors: Vec<ModelError>,
    pub truncated: bool,
}

impl ErrorSink {
    pub fn push(&mut self, e: ModelError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        } else {
            self.truncated = true;
        }
    }

    pub fn is_full(&self) -> bool {
        self.errors.len() >= MAX_REPORTED_ERRORS
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_result(self) -> Result<(), ModelErrors> {
        if self.errors.is_empty() { Ok(()) } else { Err(ModelErrors(self.errors)) }
    }
}

/// Why one step of the agent loop failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("observation has {got} entries, the model has {expected} modalities")]
    ObservationLength { expected: usize, got: usize },
    #[error("observation for modality {modality} is {value}, outside 0..{num_obs}")]
    ObservationOutOfRange { modality: usize, value: usize, num_obs: usize },
    /// The cooperative time budget ran out between two policy-tree nodes.
    #[error("the step's time budget was exceeded")]
    DeadlineExceeded,
    /// A persisted agent state that does not fit the model (a model changed under an agent).
    #[error("agent state does not fit the model: {0}")]
    StateMismatch(String),
}

/// Why a stateless run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("invalid model: {0}")]
    Model(ModelErrors),
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("step {step}: {source}")]
    Step { step: usize, source: StepError },
}

impl RunError {
    /// True when the time budget ran out (the API answers 408/503 rather than 422).
    pub fn is_deadline(&self) -> bool {
        matches!(self, RunError::Step { source: StepError::DeadlineExceeded, .. })
    }

    /// The validation details for a 422 (empty for a deadline).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            RunError::Model(e) => e.field_errors_under("model"),
            RunError::Invalid(e) => e.clone(),
            RunError::Step { step, source } => match source {
                StepError::ObservationLength { .. } => {
                    vec![FieldError::new(format!("observations[{step}]"), source.to_string())]
                }
                StepError::ObservationOutOfRange { modality, .. } => {
                    vec![FieldError::new(format!("observations[{step}][{modality}]"), source.to_string())]
                }
                StepError::DeadlineExceeded => Vec::new(),
                StepError::StateMismatch(_) => vec![FieldError::new("state", source.to_string())],
            },
        }
    }
}
