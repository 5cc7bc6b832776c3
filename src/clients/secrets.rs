//! Client secrets (seed 004): 256 random bits from the OS generator as URL-safe base64,
//! shown once, stored only as an argon2id hash (PHC string, the `argon2` crate's
//! defaults: m = 19 MiB, t = 2, p = 1) beside a six-character display prefix. Hashing
//! and verification run on the blocking pool, at most one per core at a time.

use std::sync::{LazyLock, Mutex};

use anyhow::Context;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::{DateTime, NaiveDateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Characters of a secret kept in clear, to tell secrets apart (`"SMWvD7..."`).
pub const DISPLAY_PREFIX_LEN: usize = 6;
pub const MAX_SECRET_NAME_LEN: usize = 128;
pub const MAX_SECRETS_PER_CLIENT: usize = 20;
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
    pub async fn generate(
        name: SecretName,
        expires_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<(NewSecret, ClientSecret)> {
        let secret = ClientSecret::generate();
        let hash = hash_secret(&secret).await?;
        let stored = NewSecret {
            name,
            display_prefix: secret.display_prefix(),
            hash,
            expires_at,
        };
        Ok((stored, secret))
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

impl StoredSecret {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// One argon2 computation per core at a time; the rest wait here, off the workers.
static ARGON2_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

/// Argon2's working memory (19 MiB each), one per slot, reused. Allocated per check,
/// freed blocks of that size stay with the allocator's per-thread arenas, and a flood
/// of checks grows the process by gigabytes; reused, it stays at slots × 19 MiB.
static ARGON2_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// The hash an unknown client's secret is checked against, so it costs the same.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut memory = vec![Block::default(); Params::default().block_count()];
    argon2_hash(ClientSecret::generate().expose(), &mut memory)
        .expect("argon2 hashes a generated secret")
});

async fn on_argon2_pool<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> anyhow::Result<T> {
    let _slot = ARGON2_SLOTS.acquire().await.context("argon2 pool closed")?;
    tokio::task::spawn_blocking(move || {
        let spare = ARGON2_MEMORY.lock().expect("not poisoned").pop();
        let mut memory = spare.unwrap_or_default();
        let outcome = work(&mut memory);
        ARGON2_MEMORY.lock().expect("not poisoned").push(memory);
        outcome
    })
    .await
    .context("argon2 task failed")
}

/// Argon2id of `secret` under `params` and `salt`, computed in `memory` (grown once if
/// it is too small).
fn argon2_output(
    secret: &str,
    salt: &Salt<'_>,
    params: Params,
    out_len: usize,
    memory: &mut Vec<Block>,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| anyhow::anyhow!("bad salt: {error}"))?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let blocks = params.block_count();
    let mut out = vec![0u8; out_len];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .map_err(|error| anyhow::anyhow!("argon2 failed: {error}"))?;
    Output::new(&out).map_err(|error| anyhow::anyhow!("argon2 output: {error}"))
}

fn argon2_hash(secret: &str, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let params = Params::default();
    let output = argon2_output(
        secret,
        &salt.as_salt(),
        params.clone(),
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|error| anyhow::anyhow!("{error}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `secret` matches the PHC string `hash` (compared in constant time).
fn argon2_matches(secret: &str, hash: &str, memory: &mut Vec<Block>) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|error| anyhow::anyhow!("stored secret hash is corrupt: {error}"))?;
    if Algorithm::try_from(parsed.algorithm).ok() != Some(Algorithm::Argon2id) {
        anyhow::bail!("stored secret hash is not argon2id");
    }
    let params = Params::try_from(&parsed).map_err(|error| anyhow::anyhow!("{error}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored secret hash has no salt or no output");
    };
    let output = argon2_output(secret, &salt, params, expected.len(), memory)?;
    Ok(output == expected)
}

pub async fn hash_secret(secret: &ClientSecret) -> anyhow::Result<String> {
    let secret = secret.clone();
    on_argon2_pool(move |memory| argon2_hash(secret.expose(), memory)).await?
}

/// Whether `secret` matches `hash`; with no hash, the work of a check against a dummy
/// and `false`.
pub(crate) async fn verify_secret(
    secret: &ClientSecret,
    hash: Option<String>,
) -> anyhow::Result<bool> {
    let secret = secret.clone();
    on_argon2_pool(move |memory| {
        let (hash, real) = match &hash {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        Ok(argon2_matches(secret.expose(), hash, memory)? && real)
    })
    .await?
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

    #[tokio::test]
    async fn hashes_verify_only_their_secret() {
        let secret = ClientSecret::generate();
        let hash = hash_secret(&secret).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(secret.expose()));
        assert!(verify_secret(&secret, Some(hash.clone())).await.unwrap());
        let other = ClientSecret::generate();
        assert!(!verify_secret(&other, Some(hash)).await.unwrap());
        assert!(!verify_secret(&secret, None).await.unwrap());
    }

    #[test]
    fn hashes_are_standard_phc_argon2id_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Vec::new();
        let ours = argon2_hash("s3cret", &mut memory).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"other", &parsed)
            .is_err());

        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        assert!(argon2_matches("s3cret", &theirs, &mut memory).unwrap());
        assert!(!argon2_matches("other", &theirs, &mut memory).unwrap());
        assert!(argon2_matches("x", "not a hash", &mut memory).is_err());
        assert_eq!(
            memory.len(),
            Params::default().block_count(),
            "one buffer, reused"
        );
    }
}
