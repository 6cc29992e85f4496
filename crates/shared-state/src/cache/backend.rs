//! The shared half of the two-level cache: where copies live between replicas (Redis) and how
//! every replica learns that a key changed. The embedded profile's backend is one process: there is
//! no shared layer and invalidation is in place.
use async_trait::async_trait;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a replica's local layer must compare its copies against. A key's copy is good while both
/// the generation (bumped when the invalidation channel was lost and regained: anything may have
/// changed meanwhile) and its bucket's epoch (bumped by every invalidation of a key in the bucket)
/// are those it was loaded under. Buckets keep this a fixed-size table: an invalidation of one key
/// also drops the copies of the ~1/1024 others that share its bucket, which costs a reload only.
#[derive(Debug)]
pub struct Epochs {
    generation: AtomicU64,
    buckets: Box<[AtomicU64]>,
    hasher: foldhash::fast::FixedState,
}

const BUCKETS: usize = 1024;

/// A copy's validity stamp: (generation, bucket epoch) at the start of its load.
pub type Stamp = (u64, u64);

impl Default for Epochs {
    fn default() -> Self {
        Epochs {
            generation: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        }
    }
}

impl Epochs {
    fn bucket(&self, key: &str) -> &AtomicU64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key.as_bytes());
        &self.buckets[(hasher.finish() as usize) % BUCKETS]
    }

    /// The stamp a copy of `key` loaded now gets, and must still have when read.
    pub fn stamp(&self, key: &str) -> Stamp {
        (self.generation.load(Ordering::Acquire), self.bucket(key).load(Ordering::Acquire))
    }

    /// Every copy of `key` taken before now is stale.
    pub fn invalidate(&self, key: &str) {
        self.bucket(key).fetch_add(1, Ordering::AcqRel);
    }

    /// Every copy of every key taken before now is stale.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Why a shared-layer operation failed; callers count it and carry on as for a miss.
#[derive(Debug, thiserror::Error)]
#[error("shared cache unavailable: {0}")]
pub struct CacheError(pub String);

/// What is shared between replicas. Keys are already namespaced by cache (`principal:<id>`).
#[async_trait]
pub trait CacheBackend: Send + Sync + std::fmt::Debug {
    /// The shared copy; `Ok(None)` when there is none. A key invalidated in the last few seconds
    /// reads as [`Shared::Invalidated`]: its value must be loaded from the source and not shared.
    async fn get(&self, key: &str) -> Result<Shared, CacheError>;
    /// Shares a copy unless the key was just invalidated (a load that started before a write
    /// must not publish what it read).
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    /// The key changed: drop the shared copy and tell every replica's local layer.
    async fn invalidate(&self, key: &str) -> Result<(), CacheError>;
    /// Whether this replica hears invalidations now. While it does not, local copies may be
    /// stale and are not used (the caches go straight to the shared layer and the source).
    fn local_layer_trusted(&self) -> bool;
    /// This replica's validity stamps, maintained from the invalidations it hears.
    fn epochs(&self) -> &Epochs;
    /// Whether there is a shared layer at all (metrics and docs say `in-process` otherwise).
    fn is_shared(&self) -> bool;
}

/// A shared-layer answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Shared {
    Missing,
    Invalidated,
    Value(Vec<u8>),
}

/// The embedded profile's backend: one process, so nothing to share and invalidation in place.
#[derive(Debug, Default)]
pub struct LocalCacheBackend {
    epochs: Epochs,
}

#[async_trait]
impl CacheBackend for LocalCacheBackend {
    async fn get(&self, _key: &str) -> Result<Shared, CacheError> {
        Ok(Shared::Missing)
    }

    async fn put(&self, _key: &str, _value: &[u8], _ttl: Duration) -> Result<(), CacheError> {
        Ok(())
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.epochs.invalidate(key);
        Ok(())
    }

    fn local_layer_trusted(&self) -> bool {
        true
    }

    fn epochs(&self) -> &Epochs {
        &self.epochs
    }

    fn is_shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_with_their_key_and_with_the_generation() {
        let epochs = Epochs::default();
        let a = epochs.stamp("principal:a");
        let b = epochs.stamp("principal:b");
        epochs.invalidate("principal:a");
        assert_ne!(epochs.stamp("principal:a"), a);
        // b changes only if it shares a's bucket; find a key that does not
        let other = (0..100).map(|i| format!("principal:{i}")).find(|k| epochs.stamp(k) == (0, 0)).unwrap();
        assert_eq!(epochs.stamp(&other), (0, 0));
        let _ = b;
        epochs.invalidate_all();
        assert_ne!(epochs.stamp(&other), (0, 0));
    }
}
