//! What every test suite of the workspace shares: where the PostgreSQL and Redis test servers are,
//! and the rule for when they are missing — a developer's run skips those tests with a notice, a
//! CI run (`CI` set to `1` or `true`, in any case) fails instead. Dev-dependency only.
#![forbid(unsafe_code)]
// a test-support crate reports skips on stderr
#![allow(clippy::print_stderr)]

/// The PostgreSQL server tests create their databases on (`TEST_DATABASE_URL`, without a
/// database name).
pub fn database_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The Redis server tests use, each under its own key prefix (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Whether this run is CI, where the PostgreSQL and Redis suites must run.
pub fn in_ci() -> bool {
    is_ci(std::env::var("CI").ok().as_deref())
}

/// `CI=1` and `CI=true` (any case) alike, as CI systems set it.
pub fn is_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `true` when a dependency the test needs is there. When it is not: a notice and `false`
/// outside CI (the caller returns early), a panic in CI.
#[track_caller]
pub fn available(ok: bool, what: &str, why: &dyn std::fmt::Display) -> bool {
    if ok {
        return true;
    }
    assert!(!in_ci(), "CI is set but {what} is unavailable: {why}");
    eprintln!("skipping: {what} unavailable ({why}); set CI=true to make this a failure");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_one_or_true_in_any_case() {
        for value in ["1", "true", "TRUE", "True"] {
            assert!(is_ci(Some(value)), "{value}");
        }
        for value in ["0", "false", "", "yes", "truthy"] {
            assert!(!is_ci(Some(value)), "{value}");
        }
        assert!(!is_ci(None));
    }
}
