//! An agent from a free-text goal, for the web frontend's prompt box when no language model is
//! configured (docs/FRONTEND.md): deterministic, so the same prompt always makes the same kind of
//! agent with the same name.
use crate::agent::NAME_MAX_CHARS;

/// Longest prompt accepted, in characters.
pub const PROMPT_MAX_CHARS: usize = 2000;
/// Words of the prompt kept in the agent's name.
const NAME_WORDS: usize = 6;
/// The name when the prompt has no word to take one from (only punctuation, say).
const FALLBACK_NAME: &str = "Agent";

/// Keywords of each template, checked in order against the lowercased prompt; the first template
/// with a keyword in the prompt is chosen, `basic-explorer` when none is.
const KEYWORDS: [(&str, &[&str]); 2] = [
    ("pattern-predictor", &["pattern", "predict", "forecast", "sequence", "trend", "anticipat"]),
    ("goal-optimizer", &["goal", "optimi", "maximi", "minimi", "reach", "target", "reward", "objective", "achieve"]),
];
const DEFAULT_TEMPLATE: &str = "basic-explorer";

/// The template a prompt asks for.
pub fn template_for(prompt: &str) -> &'static str {
    let prompt = prompt.to_lowercase();
    KEYWORDS
        .iter()
        .find(|(_, words)| words.iter().any(|word| prompt.contains(word)))
        .map_or(DEFAULT_TEMPLATE, |(template, _)| template)
}

/// The agent's name: the prompt's first words (letters, digits and inner `-`/`'`), the first
/// letter capitalised, within the name limit.
pub fn agent_name(prompt: &str) -> String {
    let words: Vec<String> = prompt
        .split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '\''))
                .collect::<String>()
                .trim_matches(|c| matches!(c, '-' | '\''))
                .to_owned()
        })
        .filter(|word| !word.is_empty())
        .take(NAME_WORDS)
        .collect();
    let joined = words.join(" ");
    let mut chars = joined.chars();
    let Some(first) = chars.next() else { return FALLBACK_NAME.to_owned() };
    first.to_uppercase().chain(chars).take(NAME_MAX_CHARS).collect()
}

/// The prompt's problem, if any: 1 to [`PROMPT_MAX_CHARS`] characters, not only whitespace.
pub fn validate_prompt(prompt: &str) -> Result<(), String> {
    if prompt.trim().is_empty() || prompt.chars().count() > PROMPT_MAX_CHARS {
        return Err(format!("must be 1 to {PROMPT_MAX_CHARS} characters, not only whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::validate_name;

    #[test]
    fn templates_are_chosen_by_keyword_in_order() {
        assert_eq!(template_for("Explore the maze"), "basic-explorer");
        assert_eq!(template_for("Reach the GOAL in the corner"), "goal-optimizer");
        assert_eq!(template_for("Optimise resource use"), "goal-optimizer");
        assert_eq!(template_for("predict the next symbol"), "pattern-predictor");
        assert_eq!(template_for("forecast the trend to reach the target"), "pattern-predictor", "first template wins");
        assert_eq!(template_for(""), "basic-explorer");
    }

    #[test]
    fn names_take_the_first_words_and_stay_valid() {
        assert_eq!(
            agent_name("explore the maze, then report back to base please"),
            "Explore the maze then report back"
        );
        assert_eq!(agent_name("  find   'the' exit!  "), "Find the exit");
        assert_eq!(agent_name("élan vital"), "Élan vital");
        assert_eq!(agent_name("?!. ..."), "Agent");
        assert_eq!(agent_name(""), "Agent");
        assert_eq!(agent_name("tab\tand\u{7}bell"), "Tab andbell", "control characters never reach a name");
        let long = agent_name(&"x".repeat(500));
        assert_eq!(long.chars().count(), NAME_MAX_CHARS);
        for prompt in ["a", "🙂 smile", &"wörd ".repeat(200), "a\u{0}b"] {
            assert!(validate_name(&agent_name(prompt)).is_ok(), "{prompt:?}");
        }
        assert_eq!(agent_name("Explore the maze"), agent_name("Explore the maze"), "deterministic");
    }

    #[test]
    fn prompts_are_1_to_2000_characters() {
        assert!(validate_prompt("go").is_ok());
        assert!(validate_prompt(&"é".repeat(PROMPT_MAX_CHARS)).is_ok());
        assert!(validate_prompt(&"a".repeat(PROMPT_MAX_CHARS + 1)).is_err());
        assert!(validate_prompt(" \n ").is_err());
    }
}
