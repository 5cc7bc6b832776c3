//! The global admin API key: where it comes from, and how a presented key is checked.
//!
//! A configured key is hashed in memory at start. Without one, the first start
//! generates 256 random bits, prints the key once and stores only its SHA-256 (a
//! high-entropy key needs no slow hash). Checks compare digests in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::digest::{digest, SHA256};
use secrecy::{ExposeSecret, SecretString};

use crate::store::Store;

#[derive(Clone)]
pub struct AdminKeyVerifier {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminKeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKeyVerifier(..)")
    }
}

/// How the key in use came to be, so the caller can tell the operator.
pub enum AdminKeySource {
    Configured,
    Stored,
    /// Generated on this start; the only time the plain key exists.
    Generated(SecretString),
}

impl AdminKeyVerifier {
    pub fn for_key(key: &str) -> Self {
        Self {
            digest: sha256(key),
        }
    }

    fn from_hex(hex_digest: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(hex_digest)?;
        let digest = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("stored admin key hash has the wrong length"))?;
        Ok(Self { digest })
    }

    pub fn verify(&self, presented: &str) -> bool {
        let presented = sha256(presented);
        presented
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The configured key, else the stored hash, else a new key (stored as a hash).
    pub async fn resolve(
        configured: &SecretString,
        store: &Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<(Self, AdminKeySource)> {
        let configured = configured.expose_secret();
        if !configured.is_empty() {
            return Ok((Self::for_key(configured), AdminKeySource::Configured));
        }
        if let Some(stored) = store.admin_key_hash().await? {
            return Ok((Self::from_hex(&stored)?, AdminKeySource::Stored));
        }
        let key = generate_key();
        let verifier = Self::for_key(&key);
        // Two processes starting together on one empty database: one insert wins and
        // the other process uses the winner's hash (and prints nothing).
        if store
            .insert_admin_key_hash(&hex::encode(verifier.digest), now)
            .await?
        {
            Ok((verifier, AdminKeySource::Generated(SecretString::from(key))))
        } else {
            let stored = store
                .admin_key_hash()
                .await?
                .ok_or_else(|| anyhow::anyhow!("admin key hash vanished during start"))?;
            Ok((Self::from_hex(&stored)?, AdminKeySource::Stored))
        }
    }
}

fn sha256(text: &str) -> [u8; 32] {
    digest(&SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// 256 bits from the OS generator, as URL-safe text.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_key() {
        let verifier = AdminKeyVerifier::for_key("correct horse battery staple");
        assert!(verifier.verify("correct horse battery staple"));
        assert!(!verifier.verify("correct horse battery stapl"));
        assert!(!verifier.verify(""));
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
