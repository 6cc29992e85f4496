//! Access tokens: short-lived JWTs with a pinned algorithm. The algorithm comes from configuration
//! and is never read from the token (the classic algorithm-confusion bug); `kid` selects among the
//! current key and the previous ones still accepted during a rotation.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub const ACCESS: &str = "access";
pub const ISSUER: &str = "freeagentics-auth";
pub const AUDIENCE: &str = "freeagentics-api";
/// Clock skew tolerated on `exp`/`nbf` (jsonwebtoken's default of 60 s is too generous).
const LEEWAY_SECONDS: u64 = 5;
/// HS256 secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Tokens remembered as verified. Checking a signature (and decoding the header twice) is about
/// 60 % of an authenticated read's instructions; a client sends the same token for its whole life.
/// ~0.6 KB each: at most a few MB.
const VERIFIED_TOKENS: u64 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub role: String,
    pub jti: Uuid,
    /// `access`; refresh tokens are opaque and never JWTs, but the claim makes any other JWT we
    /// might mint unusable as an access token.
    pub typ: String,
    /// Issue time with millisecond precision (a NumericDate may be fractional, RFC 7519 §2), so
    /// `tokens_valid_after` can separate tokens issued within the same second.
    pub iat: f64,
    pub nbf: u64,
    pub exp: u64,
}

impl AccessClaims {
    /// Remaining lifetime, for the denylist entry's TTL.
    pub fn remaining(&self) -> Duration {
        let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        Duration::from_secs(self.exp.saturating_sub(now) + LEEWAY_SECONDS)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("invalid JWT key: {0}")]
    Invalid(String),
}

struct VerifyingKey {
    kid: String,
    key: DecodingKey,
}

pub struct JwtKeys {
    algorithm: Algorithm,
    kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyingKey>,
    validation: Validation,
    /// Exact token strings whose signature and claims were checked (only those enter: a string that
    /// differs by one byte is a miss and is checked in full). Keys never change while the process
    /// runs, so a verified signature stays verified; the time claims are checked on every use.
    verified: moka::sync::Cache<Box<str>, AccessClaims>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.verifying.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("accepted", &kids)
            .finish()
    }
}

impl JwtKeys {
    /// HMAC-SHA256 with a shared secret.
    pub fn hs256(kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::WeakSecret);
        }
        Ok(Self::new(Algorithm::HS256, kid, EncodingKey::from_secret(secret), DecodingKey::from_secret(secret)))
    }

    /// Ed25519 from PEM keys (PKCS#8 private, SPKI public).
    pub fn ed25519(kid: &str, private_pem: &[u8], public_pem: &[u8]) -> Result<Self, KeyError> {
        let signing = EncodingKey::from_ed_pem(private_pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let verifying = DecodingKey::from_ed_pem(public_pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(Self::new(Algorithm::EdDSA, kid, signing, verifying))
    }

    fn new(algorithm: Algorithm, kid: &str, signing: EncodingKey, verifying: DecodingKey) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        JwtKeys {
            algorithm,
            kid: kid.to_owned(),
            signing,
            verifying: vec![VerifyingKey { kid: kid.to_owned(), key: verifying }],
            validation,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    /// Also accept tokens signed with a previous HS256 secret (key rotation).
    pub fn with_previous_hs256(mut self, kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        if self.algorithm != Algorithm::HS256 {
            return Err(KeyError::Invalid("a previous HS256 secret needs JWT_ALGORITHM=HS256".to_owned()));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::WeakSecret);
        }
        self.verifying.push(VerifyingKey { kid: kid.to_owned(), key: DecodingKey::from_secret(secret) });
        Ok(self)
    }

    /// Also accept tokens signed with a previous Ed25519 key, by its public key (key rotation).
    pub fn with_previous_ed25519(mut self, kid: &str, public_pem: &[u8]) -> Result<Self, KeyError> {
        if self.algorithm != Algorithm::EdDSA {
            return Err(KeyError::Invalid("a previous Ed25519 public key needs JWT_ALGORITHM=EdDSA".to_owned()));
        }
        let key = DecodingKey::from_ed_pem(public_pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        self.verifying.push(VerifyingKey { kid: kid.to_owned(), key });
        Ok(self)
    }

    pub fn issue(&self, user: Uuid, role: &str, ttl: Duration) -> Result<(String, AccessClaims), KeyError> {
        let now = OffsetDateTime::now_utc();
        let seconds = now.unix_timestamp().max(0) as u64;
        let claims = AccessClaims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            role: role.to_owned(),
            jti: Uuid::now_v7(),
            typ: ACCESS.to_owned(),
            iat: (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0,
            nbf: seconds,
            exp: seconds + ttl.as_secs(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.signing).map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and not-before. `None` for any
    /// failure: callers answer 401 without saying which check failed.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        if let Some(claims) = self.verified.get(token) {
            let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            return within_time(&claims, now).then_some(claims);
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = match header.kid.as_deref() {
            Some(kid) => &self.verifying.iter().find(|k| k.kid == kid)?.key,
            None => &self.verifying.first()?.key,
        };
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).ok()?;
        if data.claims.typ != ACCESS {
            return None;
        }
        self.verified.insert(token.into(), data.claims.clone());
        Some(data.claims)
    }
}

/// jsonwebtoken's time rules with our leeway: expired when `exp < now − leeway`, not yet valid
/// when `nbf > now + leeway`.
fn within_time(claims: &AccessClaims, now: u64) -> bool {
    claims.exp.saturating_add(LEEWAY_SECONDS) >= now && claims.nbf <= now.saturating_add(LEEWAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_rotation() {
        let keys = JwtKeys::hs256("k1", SECRET).unwrap();
        let before = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let (token, claims) = keys.issue(Uuid::now_v7(), "observer", Duration::from_secs(60)).unwrap();
        let after = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        // `iat` carries the issue time in milliseconds (tokens_valid_after compares at that precision)
        let iat_ms = (claims.iat * 1000.0).round() as i128;
        assert!((before..=after).contains(&iat_ms), "{before} <= {iat_ms} <= {after}");
        assert_eq!(claims.exp, claims.nbf + 60);
        let rotated = JwtKeys::hs256("k2", b"another-secret-another-secret-12345")
            .unwrap()
            .with_previous_hs256("k1", SECRET)
            .unwrap();
        assert!(rotated.verify(&token).is_some(), "tokens of the previous key stay valid");
        let other = JwtKeys::hs256("k1", b"a-completely-different-secret-value!").unwrap();
        assert!(other.verify(&token).is_none(), "wrong key");
    }

    #[test]
    fn a_remembered_token_is_still_held_to_its_times() {
        let keys = JwtKeys::hs256("k1", SECRET).unwrap();
        let (token, claims) = keys.issue(Uuid::now_v7(), "observer", Duration::from_secs(60)).unwrap();
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        assert_eq!(keys.verify(&token), Some(claims.clone()), "the second use is answered from memory");
        // one byte off (the last character of the signature) is a different token, checked in full
        let mut tampered = token;
        let last = if tampered.ends_with('A') { 'B' } else { 'A' };
        tampered.pop();
        tampered.push(last);
        assert!(keys.verify(&tampered).is_none());
        // the time claims at their edges (exp and nbf are whole seconds)
        assert!(within_time(&claims, claims.exp + LEEWAY_SECONDS));
        assert!(!within_time(&claims, claims.exp + LEEWAY_SECONDS + 1));
        assert!(within_time(&claims, claims.nbf - LEEWAY_SECONDS));
        assert!(!within_time(&claims, claims.nbf - LEEWAY_SECONDS - 1));
    }

    /// A throwaway key pair made for this test (`openssl genpkey -algorithm ed25519`).
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJVmmcSeNUuBb89E4t8dSFroP1+wSh4gziGWMLZGCKKR\n-----END PRIVATE KEY-----\n";
    const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA+Fd09jKbrxKFmNDyS3/ngdRC5WZD4xSwjpswwNjesKY=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn eddsa_round_trip_and_no_algorithm_confusion() {
        let keys = JwtKeys::ed25519("ed", ED_PRIVATE.as_bytes(), ED_PUBLIC.as_bytes()).unwrap();
        let (token, claims) = keys.issue(Uuid::now_v7(), "researcher", Duration::from_secs(60)).unwrap();
        assert_eq!(keys.verify(&token), Some(claims));
        assert!(jsonwebtoken::decode_header(&token).unwrap().alg == Algorithm::EdDSA);
        // an HS256 token whose "secret" is the public key must not pass an EdDSA verifier
        let forged = JwtKeys::hs256("ed", ED_PUBLIC.as_bytes()).unwrap();
        let (hs_token, _) = forged.issue(Uuid::now_v7(), "admin", Duration::from_secs(60)).unwrap();
        assert!(keys.verify(&hs_token).is_none());
        // and an EdDSA token is refused by an HS256 verifier
        assert!(JwtKeys::hs256("ed", SECRET).unwrap().verify(&token).is_none());
    }

    /// A second throwaway pair: the key being retired.
    const ED_PREVIOUS_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIc7FZ9d2mM67bCbOrAyKDk+a+4cOsP5cqAF/ERNHy/Z\n-----END PRIVATE KEY-----\n";
    const ED_PREVIOUS_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEATcENsxszvMibPOjPLvj9wJctHTyFOz1zp21tbZ+J/SA=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn eddsa_rotation_accepts_the_previous_key_by_kid() {
        let old = JwtKeys::ed25519("ed-1", ED_PREVIOUS_PRIVATE.as_bytes(), ED_PREVIOUS_PUBLIC.as_bytes()).unwrap();
        let (old_token, old_claims) = old.issue(Uuid::now_v7(), "observer", Duration::from_secs(60)).unwrap();
        let current = JwtKeys::ed25519("ed-2", ED_PRIVATE.as_bytes(), ED_PUBLIC.as_bytes()).unwrap();
        assert!(current.verify(&old_token).is_none(), "unknown kid");
        let rotated = current.with_previous_ed25519("ed-1", ED_PREVIOUS_PUBLIC.as_bytes()).unwrap();
        assert_eq!(rotated.verify(&old_token), Some(old_claims));
        let (new_token, _) = rotated.issue(Uuid::now_v7(), "observer", Duration::from_secs(60)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(),
            Some("ed-2"),
            "signs with the new key"
        );
        // the previous key is a verifying key only, under its own kid
        let mislabelled =
            JwtKeys::ed25519("ed-2", ED_PREVIOUS_PRIVATE.as_bytes(), ED_PREVIOUS_PUBLIC.as_bytes()).unwrap();
        let (forged, _) = mislabelled.issue(Uuid::now_v7(), "admin", Duration::from_secs(60)).unwrap();
        assert!(rotated.verify(&forged).is_none(), "a kid selects exactly one key");
    }

    #[test]
    fn previous_keys_must_match_the_algorithm() {
        let ed = JwtKeys::ed25519("ed", ED_PRIVATE.as_bytes(), ED_PUBLIC.as_bytes()).unwrap();
        assert!(matches!(ed.with_previous_hs256("old", SECRET), Err(KeyError::Invalid(_))));
        let hs = JwtKeys::hs256("k", SECRET).unwrap();
        assert!(matches!(hs.with_previous_ed25519("old", ED_PUBLIC.as_bytes()), Err(KeyError::Invalid(_))));
    }

    #[test]
    fn weak_secrets_are_refused() {
        assert!(matches!(JwtKeys::hs256("k", b"short"), Err(KeyError::WeakSecret)));
    }
}
