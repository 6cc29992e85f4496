//! Sealing secrets at rest (AES-256-GCM from aws-lc-rs, already linked for JWT signing). A sealed
//! value is `nonce (12 bytes) ‖ ciphertext ‖ tag`, bound to its owner and field by the associated
//! data: a sealed key copied to another user's row or field does not open.
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealing failed")]
    Seal,
    /// Another key, another owner or field, or altered bytes.
    #[error("the sealed value does not open with this key")]
    Open,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        // a 32-byte key is always a valid AES-256 key
        let unbound = UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("AES-256 takes 32 bytes"));
        Sealer { key: LessSafeKey::new(unbound) }
    }

    /// `context` names what the value belongs to (owner and field); opening needs the same.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        // random nonces: 2^-32 collision odds only after ~2^32 seals under one key, far beyond a
        // settings table's writes
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut sealed)
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(SealError::Open)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self.key.open_in_place(nonce, Aad::from(context), &mut buffer).map_err(|_| SealError::Open)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal(b"sk-secret-key", b"user-1/openai").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "no plaintext in the sealed bytes");
        assert_eq!(sealer.open(&sealed, b"user-1/openai").unwrap(), b"sk-secret-key");
        assert!(sealer.open(&sealed, b"user-2/openai").is_err(), "another owner");
        assert!(sealer.open(&sealed, b"user-1/anthropic").is_err(), "another field");
        assert!(Sealer::new(&[8; 32]).open(&sealed, b"user-1/openai").is_err(), "another key");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&altered, b"user-1/openai").is_err(), "altered bytes");
        assert!(sealer.open(&sealed[..5], b"user-1/openai").is_err(), "truncated");
        assert_ne!(sealer.seal(b"same", b"c").unwrap(), sealer.seal(b"same", b"c").unwrap(), "fresh nonce each time");
    }
}
