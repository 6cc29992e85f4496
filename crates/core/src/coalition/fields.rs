//! Field rules of a coalition itself (its name follows the agent name rule).
use super::membership::MAX_COALITION_SIZE;

pub const DESCRIPTION_MAX_CHARS: usize = 2000;
/// Objectives one coalition may carry (at creation or added later).
pub const OBJECTIVES_MAX: usize = 50;
/// `max_size` when a create request names none.
pub const DEFAULT_MAX_SIZE: usize = 10;

/// At most 2000 characters; line breaks and tabs are text, other control characters are not.
pub fn validate_description(description: &str) -> Result<(), String> {
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(format!("must be at most {DESCRIPTION_MAX_CHARS} characters"));
    }
    if description.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters other than line breaks and tabs".to_owned());
    }
    Ok(())
}

pub fn validate_max_size(max_size: i64) -> Result<(), String> {
    if (1..=MAX_COALITION_SIZE as i64).contains(&max_size) {
        Ok(())
    } else {
        Err(format!("must be 1 to {MAX_COALITION_SIZE}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_edges() {
        assert!(validate_description("").is_ok());
        assert!(validate_description(&"é".repeat(DESCRIPTION_MAX_CHARS)).is_ok(), "characters, not bytes");
        assert!(validate_description(&"a".repeat(DESCRIPTION_MAX_CHARS + 1)).is_err());
        assert!(validate_description("two\nlines\tand a tab").is_ok());
        assert!(validate_description("nul\0").is_err());
    }

    #[test]
    fn max_size_edges() {
        assert!(validate_max_size(0).is_err());
        assert!(validate_max_size(1).is_ok());
        assert!(validate_max_size(MAX_COALITION_SIZE as i64).is_ok());
        assert!(validate_max_size(MAX_COALITION_SIZE as i64 + 1).is_err());
    }
}
