//! What an agent's own fields must be. The status machine is in `agent_status`; the model (its
//! template or GMN spec) is checked by the inference engine.
use crate::ValidationErrors;

pub const NAME_MAX_CHARS: usize = 100;
/// Parameters are a JSON object of a template's settings: small by nature.
pub const PARAMETERS_MAX_BYTES: usize = 16 * 1024;

/// 1–100 characters, not only whitespace, no control characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.trim().is_empty() {
        return Err(format!("must be 1 to {NAME_MAX_CHARS} characters, not only whitespace"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// An agent's capabilities follow the rules of required capabilities (they are matched against
/// them in coalition formation).
pub fn validate_capabilities(capabilities: &[String], errors: &mut ValidationErrors) {
    crate::coalition::validate_required_capabilities(capabilities, "capabilities", errors);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_1_to_100_visible_characters() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name(&"é".repeat(100)).is_ok(), "characters, not bytes");
        assert!(validate_name(&"a".repeat(101)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("tab\there").is_err());
    }
}
