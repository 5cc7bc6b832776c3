//! `[tokens]`: how long what Tessera hands to users lives — authorization codes, refresh
//! token families and the grace period of a rotation (RFC 6749 §4.1.2, RFC 9700 §4.14).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// How long after a rotation the immediate predecessor, presented again by the same
    /// client, gets back the same successor instead of counting as reuse; 0: never.
    pub refresh_grace_seconds: u64,
    /// The absolute lifetime of a refresh family (a session) from sign-in.
    pub refresh_family_lifetime_seconds: u64,
    /// How long an authorization code can be exchanged (RFC 6749 §4.1.2: short).
    pub authorization_code_ttl_seconds: u64,
    /// The shortest idle token timeout a tenant may set (seed 003).
    pub idle_timeout_min_seconds: u64,
}

/// The longest idle token timeout a tenant may set: 30 days.
pub const MAX_IDLE_TIMEOUT_SECONDS: u64 = 2_592_000;

/// Longest `tokens.authorization_code_ttl_seconds` (RFC 6749 §4.1.2: "a maximum
/// authorization code lifetime of 10 minutes is RECOMMENDED").
pub const MAX_AUTHORIZATION_CODE_TTL_SECONDS: u64 = 600;

/// Longest grace period accepted: the rule is for a response lost on its way, not for
/// a second client sharing a token.
pub const MAX_REFRESH_GRACE_SECONDS: u64 = 300;

impl TokenSettings {
    pub fn refresh_grace(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.refresh_grace_seconds as i64)
    }

    pub fn authorization_code_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.authorization_code_ttl_seconds as i64)
    }

    pub fn refresh_family_lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.refresh_family_lifetime_seconds as i64)
    }
}
