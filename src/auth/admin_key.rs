//! The global admin API key: where it comes from, and how a presented key is checked.
//!
//! A configured key is hashed in memory at start. Without one, the first start
//! generates 256 random bits and stores only its SHA-256 (a high-entropy key needs no
//! slow hash); the plain key is shown once, on an interactive terminal, or else written
//! to a file of mode 0600 ([`write_generated_key`]), never into the log stream. Checks
//! compare digests in constant time.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
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
        crate::tokens::constant_time_eq(&sha256(presented), &self.digest)
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

/// Where a generated key is written when no terminal shows it: `admin-api-key` beside
/// the master key file (by default `keys/admin-api-key`).
pub fn generated_key_file(master_key_file: &Path) -> PathBuf {
    master_key_file.with_file_name("admin-api-key")
}

/// Writes `key` to a new file only its owner can read (a leftover file is replaced).
pub fn write_generated_key(path: &Path, key: &SecretString) -> anyhow::Result<()> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("cannot replace {}", path.display()))
        }
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the admin key file {}", path.display()))?;
    writeln!(file, "{}", key.expose_secret())?;
    file.sync_all()?;
    Ok(())
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
    fn the_key_file_is_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = generated_key_file(&dir.path().join("keys/master.key"));
        assert_eq!(path, dir.path().join("keys/admin-api-key"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "an old key").unwrap();
        write_generated_key(&path, &SecretString::from("the new key")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the new key\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
