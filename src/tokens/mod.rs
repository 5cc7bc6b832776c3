//! What Tessera issues: one claims type for every JWT it signs ([`AccessClaims`]: client
//! tokens, tenant admin tokens and, next, users' tokens with `sid`), one verifier with a
//! check per purpose ([`TokenVerifier`]), opaque tokens for codes and refresh tokens
//! ([`OpaqueToken`]: 256 random bits, only their SHA-256 stored), and the deny-list of
//! revoked access tokens.

pub mod access;
mod claims;
mod deny_list;
mod opaque;
pub mod tenant_admin;
mod verifier;

pub use claims::{
    api_audience, AccessClaims, Audience, ACCESS_TOKEN_TYPE, SELF_CLIENT_ID, TENANT_ADMIN_SCOPE,
};
pub use deny_list::DenyList;
pub use opaque::{OpaqueToken, TokenHash};
pub use verifier::{Purpose, TokenError, TokenVerifier, VerifiedToken};

/// `[tokens]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// How long an authorization code can be exchanged (RFC 6749 §4.1.2: short).
    pub authorization_code_ttl_seconds: u64,
}

/// Longest `tokens.authorization_code_ttl_seconds` (RFC 6749 §4.1.2: "a maximum
/// authorization code lifetime of 10 minutes is RECOMMENDED").
pub const MAX_AUTHORIZATION_CODE_TTL_SECONDS: u64 = 600;
