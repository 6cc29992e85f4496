//! argon2id password hashing (OWASP minimum: m=19 MiB, t=2, p=1 — `Argon2::default()`) on its
//! own [`CpuPool`]: each hash takes ~20 ms of CPU and 19 MiB, so threads × 19 MiB bounds memory
//! however many logins arrive.
use crate::cpu::CpuPool;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use std::sync::LazyLock;

/// A real hash of a random password: verifying unknown users against it costs the same time as a
/// real check, so response time does not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    use argon2::PasswordHasher as _;
    let hash: Result<PasswordHash, _> = Argon2::default().hash_password(uuid::Uuid::new_v4().to_string().as_bytes());
    hash.map(|h| h.to_string()).unwrap_or_default()
});

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    pool: CpuPool,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the last `PasswordHasher` clone is dropped.
    pub fn new(threads: usize) -> Self {
        Self { pool: CpuPool::new("argon2", threads) }
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        self.run(move || {
            use argon2::PasswordHasher as _;
            let hash: Result<PasswordHash, _> = Argon2::default().hash_password(password.as_bytes());
            hash.map(|h| h.to_string()).map_err(|e| e.to_string())
        })
        .await?
    }

    /// `hash = None` verifies against the dummy hash and returns false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, String> {
        self.run(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
            let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known)
        })
        .await?
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        self.pool.run(work).await.map_err(|e| e.to_string())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse battery".to_owned()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery".to_owned(), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify("wrong".to_owned(), Some(hash)).await.unwrap());
        assert!(!hasher.verify("anything".to_owned(), None).await.unwrap());
    }
}
