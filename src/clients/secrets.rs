//! Client secrets (seed 004): 256 random bits from the OS generator as URL-safe base64,
//! shown once, stored only as a keyed hash beside a six-character display prefix.
//!
//! A stored hash says its form: `hmac-sha256$<base64url>` (HMAC-SHA-256 under the key
//! [`SECRET_KEY_LABEL`] derives from the master key), or, for rows written before that
//! form existed, an argon2id PHC string (`$argon2id$...`), which still verifies through
//! [`crate::password`] and is replaced by the HMAC form on its next successful use.

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use rand::RngCore;
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::keys::KeyService;
use crate::password;
use crate::store::{from_millis, to_millis, NewSecretRecord, SecretRecord};

/// Characters of a secret kept in clear, to tell secrets apart (`"SMWvD7..."`).
pub const DISPLAY_PREFIX_LEN: usize = 6;
pub const MAX_SECRET_NAME_LEN: usize = 128;
/// The HKDF label of the key client secrets are hashed with.
pub const SECRET_KEY_LABEL: &str = "tessera/client-secret/v1";
/// How a hash in the HMAC form starts.
pub const HMAC_PREFIX: &str = "hmac-sha256$";
/// The name of the secret a confidential client gets when it is created.
pub const INITIAL_SECRET_NAME: &str = "default";

/// A client secret in clear: generated (then shown once) or presented by a client.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

impl ClientSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        ClientSecret(SecretString::from(super::url_safe(&bytes)))
    }

    /// A secret as a client presented it.
    pub fn presented(secret: impl Into<String>) -> Self {
        ClientSecret(SecretString::from(secret.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn display_prefix(&self) -> String {
        self.expose().chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

/// How a stored secret is shown after its creation: its prefix and an ellipsis.
pub fn masked(display_prefix: &str) -> String {
    format!("{display_prefix}...")
}

/// A secret's name: 1–128 characters, not blank, unique within its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() || raw.chars().count() > MAX_SECRET_NAME_LEN {
            return Err(format!(
                "name: 1 to {MAX_SECRET_NAME_LEN} characters, not blank"
            ));
        }
        Ok(SecretName(raw.to_owned()))
    }

    pub fn initial() -> Self {
        SecretName(INITIAL_SECRET_NAME.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An expiration in RFC 3339, or seed 004's offset-less `2030-01-31T00:00:00` read as
/// UTC; it must lie after `now`.
pub fn parse_expiration(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let at = DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|at| at.and_utc())
        })
        .map_err(|_| {
            format!("expiration: '{raw}' is not RFC 3339 (or YYYY-MM-DDTHH:MM:SS, read as UTC)")
        })?;
    if at <= now {
        return Err("expiration: must be in the future".to_owned());
    }
    Ok(at)
}

/// A secret about to be stored: never the secret itself.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub name: SecretName,
    pub display_prefix: String,
    pub hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewSecret {
    /// Generates a secret and hashes it: what to store, and the secret to show once.
    pub fn generate(
        name: SecretName,
        expires_at: Option<DateTime<Utc>>,
        hasher: &SecretHasher,
    ) -> (NewSecret, ClientSecret) {
        let secret = ClientSecret::generate();
        let stored = NewSecret {
            name,
            display_prefix: secret.display_prefix(),
            hash: hasher.hash(&secret),
            expires_at,
        };
        (stored, secret)
    }

    /// What the store writes.
    pub fn record(&self) -> NewSecretRecord<'_> {
        NewSecretRecord {
            name: self.name.as_str(),
            display_prefix: &self.display_prefix,
            hash: &self.hash,
            expires_at: self.expires_at.map(to_millis),
        }
    }
}

/// A stored secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub id: i64,
    pub name: String,
    pub display_prefix: String,
    pub hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<SecretRecord> for StoredSecret {
    fn from(row: SecretRecord) -> Self {
        StoredSecret {
            id: row.id,
            name: row.name,
            display_prefix: row.display_prefix,
            hash: row.hash,
            expires_at: row.expires_at.map(from_millis),
            created_at: from_millis(row.created_at),
            last_used_at: row.last_used_at.map(from_millis),
        }
    }
}

impl StoredSecret {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// Hashes client secrets and checks presented ones: HMAC-SHA-256 under a key derived
/// from the master key, so a copy of the database alone cannot even test a guess.
/// Secrets are 256 random bits, which a slow hash would not make any harder to find.
#[derive(Clone)]
pub struct SecretHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

/// The outcome of checking a presented secret against one stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCheck {
    Mismatch,
    Matches,
    /// Matches a hash in the legacy argon2id form; `upgraded` is what to store instead.
    MatchesLegacy {
        upgraded: String,
    },
}

impl SecretHasher {
    pub fn new(key: hmac::Key) -> Self {
        SecretHasher { key }
    }

    /// The hasher of this installation, keyed from its master key.
    pub fn from_keys(keys: &KeyService) -> Self {
        Self::new(keys.derive_hmac_key(SECRET_KEY_LABEL))
    }

    /// `hmac-sha256$` and the URL-safe base64 of the tag.
    pub fn hash(&self, secret: &ClientSecret) -> String {
        let tag = hmac::sign(&self.key, secret.expose().as_bytes());
        format!("{HMAC_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks `secret` against a stored hash of either form, in constant time. Only a
    /// legacy argon2id hash costs more than an HMAC (and waits for the argon2 pool).
    pub async fn check(&self, secret: &ClientSecret, stored: &str) -> anyhow::Result<SecretCheck> {
        if let Some(encoded) = stored.strip_prefix(HMAC_PREFIX) {
            let tag = URL_SAFE_NO_PAD
                .decode(encoded)
                .context("stored secret hash is corrupt")?;
            let matches = hmac::verify(&self.key, secret.expose().as_bytes(), &tag).is_ok();
            return Ok(if matches {
                SecretCheck::Matches
            } else {
                SecretCheck::Mismatch
            });
        }
        if stored.starts_with(password::ARGON2ID_PREFIX) {
            let presented = SecretString::from(secret.expose().to_owned());
            return Ok(
                if password::verify_password(&presented, Some(stored)).await? {
                    SecretCheck::MatchesLegacy {
                        upgraded: self.hash(secret),
                    }
                } else {
                    SecretCheck::Mismatch
                },
            );
        }
        anyhow::bail!("stored secret hash has an unknown form")
    }

    /// The work of one check that cannot match, for a client id that has no candidate
    /// secret, so that it costs what a wrong secret of a real client costs.
    /// Whether `stored` is in the legacy argon2id form, whose check waits for the pool.
    pub fn is_legacy(stored: &str) -> bool {
        !stored.starts_with(HMAC_PREFIX)
    }

    pub fn check_nothing(&self, secret: &ClientSecret) {
        let never = [0u8; 32];
        let _ = hmac::verify(&self.key, secret.expose().as_bytes(), &never);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_of_url_safe_text_and_debug_hides_them() {
        let secret = ClientSecret::generate();
        assert_eq!(secret.expose().len(), 43);
        assert!(secret
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(secret.expose(), ClientSecret::generate().expose());
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert_eq!(secret.display_prefix().len(), DISPLAY_PREFIX_LEN);
        assert!(secret.expose().starts_with(&secret.display_prefix()));
    }

    #[test]
    fn expirations_in_both_seed_forms_and_only_in_the_future() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let expected = DateTime::parse_from_rfc3339("2030-01-31T00:00:00Z").unwrap();
        assert_eq!(
            parse_expiration("2030-01-31T00:00:00", now),
            Ok(expected.into())
        );
        assert_eq!(
            parse_expiration("2030-01-31T01:00:00+01:00", now),
            Ok(expected.into())
        );
        assert!(parse_expiration("2025-12-31T23:59:59Z", now).is_err());
        assert!(parse_expiration("tomorrow", now).is_err());
    }

    fn keyed(byte: u8) -> SecretHasher {
        SecretHasher::new(hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32]))
    }

    #[tokio::test]
    async fn hashes_are_tagged_hmacs_that_verify_only_their_secret() {
        let hasher = keyed(1);
        let secret = ClientSecret::generate();
        let hash = hasher.hash(&secret);
        assert!(hash.starts_with(HMAC_PREFIX), "{hash}");
        assert!(!hash.contains(secret.expose()));
        assert_eq!(hash, hasher.hash(&secret));
        assert_eq!(
            hasher.check(&secret, &hash).await.unwrap(),
            SecretCheck::Matches
        );
        let other = ClientSecret::generate();
        assert_eq!(
            hasher.check(&other, &hash).await.unwrap(),
            SecretCheck::Mismatch
        );
        // Under another master key the same database tests nothing.
        assert_eq!(
            keyed(2).check(&secret, &hash).await.unwrap(),
            SecretCheck::Mismatch
        );
        assert!(hasher.check(&secret, "hmac-sha256$!!!").await.is_err());
        assert!(hasher.check(&secret, "plain text").await.is_err());
    }

    #[tokio::test]
    async fn legacy_argon2_hashes_verify_and_offer_the_new_form() {
        let hasher = keyed(1);
        let secret = ClientSecret::generate();
        let legacy = password::hash_password(&SecretString::from(secret.expose().to_owned()))
            .await
            .unwrap();
        let SecretCheck::MatchesLegacy { upgraded } = hasher.check(&secret, &legacy).await.unwrap()
        else {
            panic!("a legacy hash of the secret matches");
        };
        assert_eq!(upgraded, hasher.hash(&secret));
        assert_eq!(
            hasher
                .check(&ClientSecret::generate(), &legacy)
                .await
                .unwrap(),
            SecretCheck::Mismatch
        );
    }
}
