//! SHA-256 digests in hex: stored refresh tokens, compiled-model cache keys, idempotency
//! fingerprints.
use sha2::{Digest, Sha256};

/// The hex SHA-256 of `parts`, each separated from the next by a zero byte (so `["ab", "c"]` and
/// `["a", "bc"]` differ).
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update([0]);
        }
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_separated() {
        // the SHA-256 of "abc" (FIPS 180-2, appendix B.1)
        assert_eq!(sha256_hex(&[b"abc"]), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
        assert_eq!(sha256_hex(&[b"a", b"b"]), sha256_hex(&[b"a\0b"]));
    }
}
