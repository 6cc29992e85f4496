//! argon2id password hashing (OWASP minimum: m=19 MiB, t=2, p=1 — `Argon2::default()`) on a
//! small pool of dedicated threads. Each hash takes ~20 ms of CPU and 19 MiB:
//! - on the async workers it would stall every other request;
//! - on tokio's blocking pool each of its many threads would keep its own malloc arena holding a
//!   19 MiB block (glibc raises its mmap threshold after the first free), and RSS was measured
//!   growing past 500 MiB under a login burst.
//!
//! A fixed set of threads bounds both CPU and memory: `threads × 19 MiB`, however many logins arrive.
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for a hashing thread; beyond this, callers wait to enqueue (backpressure).
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// A real hash of a random password: verifying unknown users against it costs the same time as a
/// real check, so response time does not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    use argon2::PasswordHasher as _;
    let hash: Result<PasswordHash, _> = Argon2::default().hash_password(uuid::Uuid::new_v4().to_string().as_bytes());
    hash.map(|h| h.to_string()).unwrap_or_default()
});

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the last `PasswordHasher` clone is dropped.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).blocking_recv();
                    match job {
                        Some(job) => job(),
                        None => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self { jobs }
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
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            // the request was cancelled while queued: skip the 20 ms of work nobody waits for
            if done.is_closed() {
                return;
            }
            let _ = done.send(span.in_scope(work));
        });
        self.jobs.send(job).await.map_err(|_| "password hashing threads stopped".to_owned())?;
        result.await.map_err(|_| "password hashing thread failed".to_owned())
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
