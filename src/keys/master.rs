//! The key-encryption key: AES-256-GCM over every stored private key, with the key's
//! id and algorithm bound as associated data so a ciphertext cannot be moved to another
//! row.
//!
//! It comes from `signing.master_key` (base64 of 32 bytes, normally set as
//! `TESSERA_SIGNING__MASTER_KEY`) or from the file `signing.master_key_file`, which the
//! first start creates with mode 0600.
//!
//! Other uses of the master key (client secret hashes) get keys of their own, derived
//! with HKDF-SHA-256 (RFC 5869) under a label per use; the key itself never leaves.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::{hkdf, hmac};
use secrecy::{ExposeSecret, SecretString};

use super::Algorithm;

pub struct MasterKey {
    key: LessSafeKey,
    /// HKDF's pseudorandom key from the master key, for [`MasterKey::derive_hmac_key`].
    derivation: hkdf::Prk,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where the master key came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    Configured,
    File,
    CreatedFile,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow!("a master key is exactly 32 bytes"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            derivation: hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(bytes),
        })
    }

    /// An HMAC-SHA-256 key for the use `label` names (e.g. `"tessera/client-secret/v1"`):
    /// a different label gives an unrelated key, the same label always the same one.
    pub fn derive_hmac_key(&self, label: &str) -> hmac::Key {
        let info = [label.as_bytes()];
        let okm = self
            .derivation
            .expand(&info, hmac::HMAC_SHA256)
            .expect("32 bytes is within HKDF-SHA-256's output limit");
        hmac::Key::from(okm)
    }

    fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .context("a master key is base64 of 32 bytes")?;
        Self::from_bytes(&bytes)
    }

    /// The configured key, else the file's, else a new file when the database holds no
    /// keys yet. A missing file next to existing keys is an error: a new master key
    /// could never decrypt them.
    pub fn load(
        configured: &SecretString,
        file: &Path,
        database_has_keys: bool,
    ) -> anyhow::Result<(Self, MasterKeySource)> {
        let configured = configured.expose_secret();
        if !configured.is_empty() {
            let key = Self::from_base64(configured).context("signing.master_key")?;
            return Ok((key, MasterKeySource::Configured));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = Self::from_base64(&text)
                    .with_context(|| format!("{} (signing.master_key_file)", file.display()))?;
                Ok((key, MasterKeySource::File))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if database_has_keys {
                    bail!(
                        "the database holds signing keys but the master key file {} does not \
                         exist and signing.master_key is not set: restore the master key that \
                         encrypted them",
                        file.display()
                    );
                }
                let key = create_key_file(file)?;
                Ok((Self::from_bytes(&key)?, MasterKeySource::CreatedFile))
            }
            Err(error) => Err(error)
                .with_context(|| format!("cannot read the master key file {}", file.display())),
        }
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, kid: &str, alg: Algorithm, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(kid, alg)),
                &mut sealed,
            )
            .map_err(|_| anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    pub fn open(&self, kid: &str, alg: Algorithm, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("ciphertext too short");
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(associated_data(kid, alg)), &mut buffer)
            .map_err(|_| anyhow!("signing key {kid} does not decrypt under this master key"))?;
        Ok(plaintext.to_vec())
    }
}

fn associated_data(kid: &str, alg: Algorithm) -> Vec<u8> {
    format!("tessera-signing-key:v1:{alg}:{kid}").into_bytes()
}

fn create_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the master key file {}", path.display()))?;
    writeln!(file, "{}", STANDARD.encode(key))?;
    file.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_the_key_id() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let sealed = master.seal("kid-a", Algorithm::ES256, b"private").unwrap();
        assert_eq!(
            master.open("kid-a", Algorithm::ES256, &sealed).unwrap(),
            b"private"
        );
        assert!(master.open("kid-b", Algorithm::ES256, &sealed).is_err());
        assert!(master.open("kid-a", Algorithm::RS256, &sealed).is_err());
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert!(other.open("kid-a", Algorithm::ES256, &sealed).is_err());
    }

    #[test]
    fn derived_keys_depend_on_the_label_and_the_master_key() {
        let tag = |master: &MasterKey, label: &str| {
            hmac::sign(&master.derive_hmac_key(label), b"message")
                .as_ref()
                .to_vec()
        };
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let same = MasterKey::from_bytes(&[7; 32]).unwrap();
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert_eq!(tag(&master, "a"), tag(&same, "a"));
        assert_ne!(tag(&master, "a"), tag(&master, "b"));
        assert_ne!(tag(&master, "a"), tag(&other, "a"));
    }

    #[test]
    fn creates_the_file_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let empty = SecretString::from(String::new());
        let (first, source) = MasterKey::load(&empty, &path, false).unwrap();
        assert_eq!(source, MasterKeySource::CreatedFile);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = first.seal("k", Algorithm::EdDSA, b"x").unwrap();
        let (second, source) = MasterKey::load(&empty, &path, true).unwrap();
        assert_eq!(source, MasterKeySource::File);
        assert_eq!(second.open("k", Algorithm::EdDSA, &sealed).unwrap(), b"x");
    }

    #[test]
    fn refuses_to_invent_a_key_for_existing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let empty = SecretString::from(String::new());
        assert!(MasterKey::load(&empty, &path, true).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn rejects_malformed_configured_keys() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["not base64!", "c2hvcnQ="] {
            let error = MasterKey::load(
                &SecretString::from(bad.to_owned()),
                &dir.path().join("m"),
                false,
            )
            .unwrap_err();
            assert!(
                format!("{error:#}").contains("signing.master_key"),
                "{error:#}"
            );
        }
    }
}
