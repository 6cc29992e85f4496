use serde::Serialize;

/// One rejected input field, as reported in problem+json `errors[]`.
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

/// Accumulates every problem of an input so a client can fix them all in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the error of a fallible check and returns the value when it passed.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, so callers can `?` at the end of a validation.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// Scores, priorities, progress and trust are fractions: finite and within 0–1 inclusive.
pub fn check_unit_interval(value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err("must be a number from 0 to 1".to_owned())
    }
}

/// A text filter from a query string: 1 to `max` characters and no control characters (nothing
/// stored can contain them, and PostgreSQL cannot compare text with a NUL in it at all).
pub fn check_filter_text(value: &str, max: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// Joins a field path: `field_path("objectives[2]", "priority")` is `objectives[2].priority`, and an
/// empty prefix leaves the name alone.
pub fn field_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_text_is_visible_and_bounded() {
        assert!(check_filter_text("explorer", 100).is_ok());
        assert!(check_filter_text(&"é".repeat(100), 100).is_ok(), "characters, not bytes");
        assert!(check_filter_text(&"a".repeat(101), 100).is_err());
        assert!(check_filter_text("", 100).is_err());
        assert!(check_filter_text("nul\0byte", 100).is_err());
        assert!(check_filter_text("c1\u{88}", 100).is_err());
    }

    #[test]
    fn unit_interval_edges() {
        for ok in [0.0, 0.5, 1.0] {
            assert_eq!(check_unit_interval(ok), Ok(()));
        }
        for bad in [-0.0001, 1.0001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(check_unit_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_paths() {
        assert_eq!(field_path("", "priority"), "priority");
        assert_eq!(field_path("objectives[2]", "priority"), "objectives[2].priority");
    }
}
