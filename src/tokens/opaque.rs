//! Opaque tokens — authorization codes and refresh tokens: 256 random bits from the OS
//! generator as URL-safe base64, shown once to whoever receives it. Only the SHA-256 of
//! a token is ever stored: a token has 256 bits of entropy, so a fast hash is as good as
//! a slow one against a stolen database, and a presented token is found by its hash
//! with one indexed lookup.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// Whether two secret values (digests, tokens) are equal, in time that depends on their
/// lengths only, never on where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An opaque token in clear. `Debug` never shows it.
#[derive(Clone)]
pub struct OpaqueToken(SecretString);

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(..)")
    }
}

/// The stored form of an opaque token: hex of its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl OpaqueToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        OpaqueToken(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as someone presented it.
    pub fn presented(token: &str) -> Self {
        OpaqueToken(SecretString::from(token.to_owned()))
    }

    /// Whether `raw` has the form of a token Tessera generates (43 URL-safe base64
    /// characters): anything else need not be looked up.
    pub fn is_well_formed(raw: &str) -> bool {
        raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.expose().as_bytes());
        TokenHash(hex::encode(digest))
    }
}

impl TokenHash {
    /// A hash as read back from storage.
    pub fn stored(hex: String) -> Self {
        TokenHash(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_and_only_their_hash_is_kept() {
        let token = OpaqueToken::generate();
        assert_eq!(token.expose().len(), 43);
        assert_ne!(token.expose(), OpaqueToken::generate().expose());
        assert!(!format!("{token:?}").contains(token.expose()));
        let hash = token.hash();
        assert_eq!(hash.as_str().len(), 64);
        assert!(!hash.as_str().contains(token.expose()));
        assert_eq!(OpaqueToken::presented(token.expose()).hash(), hash);
        assert_ne!(OpaqueToken::generate().hash(), hash);
        assert!(OpaqueToken::is_well_formed(token.expose()));
        for raw in [
            "",
            "a.b.c",
            &"a".repeat(42),
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
        ] {
            assert!(!OpaqueToken::is_well_formed(raw), "{raw}");
        }
    }
}
