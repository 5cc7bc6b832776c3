//! `[signing]`: the algorithm of new keys, the master key, and the times of rotation.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    pub algorithm: String,
    pub master_key: SecretString,
    pub master_key_file: PathBuf,
    pub rotation_interval_seconds: u64,
    pub prepublish_seconds: u64,
    pub max_token_lifetime_seconds: u64,
    pub leeway_seconds: u64,
    pub refresh_seconds: u64,
    /// `None`: derived, see [`SigningSettings::jwks_max_age`].
    pub jwks_max_age_seconds: Option<u64>,
}

/// The JWKS `max-age` when none is configured, at most.
pub const DEFAULT_JWKS_MAX_AGE_SECONDS: u64 = 300;

impl SigningSettings {
    /// The JWKS `Cache-Control: max-age`: as configured, or else as long as it can be
    /// (up to [`DEFAULT_JWKS_MAX_AGE_SECONDS`]) while a cached JWKS still holds the next
    /// key: `max-age + refresh_seconds <= prepublish_seconds`.
    pub fn jwks_max_age(&self) -> u64 {
        self.jwks_max_age_seconds.unwrap_or_else(|| {
            DEFAULT_JWKS_MAX_AGE_SECONDS
                .min(self.prepublish_seconds.saturating_sub(self.refresh_seconds))
        })
    }
}
