//! User accounts: the record the domain works with, and what a username, an email address and a
//! password must be.
use crate::Role;
use std::collections::HashSet;
use std::sync::LazyLock;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// PHC string (argon2id). Never serialised: API types copy the public fields explicitly.
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    /// Access tokens issued before this instant are refused (logout-all, password or role change,
    /// deactivation). Millisecond precision: see `iat_ms` in the access-token claims.
    pub tokens_valid_after: OffsetDateTime,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// 8,354 passwords of 8+ characters from Django's common-password list (BSD-3). NIST 800-63B asks
/// for a blocklist instead of composition rules; shorter entries are already refused by length.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common-passwords.txt").lines().collect());

/// Usernames are compared case-insensitively by the stores; the spelling given at sign-up is kept.
pub fn validate_username(username: &str) -> Result<(), String> {
    let len = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters"));
    }
    if !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err("may contain only letters, digits, `_`, `.` and `-`".to_owned());
    }
    Ok(())
}

/// A deliberately small syntactic check: one `@`, a non-empty local part, a dotted domain of
/// letters, digits and hyphens. Deliverability is the mail server's business, not ours.
pub fn validate_email(email: &str) -> Result<(), String> {
    const INVALID: &str = "must be a valid email address";
    if email.len() > EMAIL_MAX {
        return Err(format!("must be at most {EMAIL_MAX} characters"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(INVALID.to_owned());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, '@' | '"' | '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | '\\' | ']')
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok { Ok(()) } else { Err(INVALID.to_owned()) }
}

/// Length and blocklist only (NIST 800-63B §5.1.1.2); characters are counted, not bytes.
pub fn validate_password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"));
    }
    if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
        return Err("is too common; choose a less guessable password".to_owned());
    }
    Ok(())
}

/// Every rule a new account must meet, all reported at once (registration, admin creation, CLI).
pub fn validate_new_account(username: &str, email: &str, password: &str) -> crate::ValidationErrors {
    let mut errors = crate::ValidationErrors::new();
    errors.check("username", validate_username(username));
    errors.check("email", validate_email(email));
    errors.check("password", validate_password(password));
    errors
}

/// The stores keep one canonical form so uniqueness and login lookups agree.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_edges() {
        assert!(validate_username("abc").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(50)).is_ok());
        assert!(validate_username(&"a".repeat(51)).is_err());
        assert!(validate_username("a.b-c_D9").is_ok());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("ünï").is_err());
    }

    #[test]
    fn email_shapes() {
        assert!(validate_email("ada@example.com").is_ok());
        assert!(validate_email("ada+tag@sub.example.org").is_ok());
        for bad in
            ["", "ada", "ada@", "@example.com", "ada@example", "ada@-x.com", "a b@example.com", "ada@exa_mple.com"]
        {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_edges_and_blocklist() {
        assert!(validate_password("correct horse").is_ok());
        assert!(validate_password("short7!").is_err());
        assert!(validate_password(&"x".repeat(128)).is_ok());
        assert!(validate_password(&"x".repeat(129)).is_err());
        assert!(validate_password("password").is_err());
        assert!(validate_password("PassWord1").is_err(), "the blocklist ignores case");
        assert!(validate_password("qwertyuiop").is_err());
        // characters, not bytes: 8 multi-byte characters are enough
        assert!(validate_password("ééééééçç").is_ok());
    }
}
