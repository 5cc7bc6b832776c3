//! OAuth 2.0 protocol rules that need no HTTP and no SQL: request parsing, client
//! authentication methods, errors, the scope a request asks for, the grants, PKCE and the
//! authorization endpoint's rules. The values a client registers (grant types, scope
//! tokens, redirect URIs) are `clients::metadata`'s; the rules here operate on them.

pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod grants;
pub mod introspection;
pub mod metadata;
pub mod pkce;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod server;
pub mod switch;

pub use client_auth::{presented_client, AuthMethod, PresentedClient};
pub use error::OAuthError;
pub use form::Form;
pub use grants::{GrantRequest, TokenResponse, SUPPORTED_GRANTS};
pub use introspection::Introspection;
pub use metadata::ServerMetadata;
pub use server::{OAuthParts, OAuthServer};

/// `[oauth]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub default_audience: String,
    pub resources: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub sync_interval_millis: u64,
    pub client_cache_entries: usize,
    pub client_cache_warm_seconds: u64,
}

impl OAuthSettings {
    /// The `aud` of tokens issued without a `resource`: `default_audience`, or the
    /// issuer when that is empty.
    pub fn default_audience_for(&self, issuer: &str) -> String {
        if self.default_audience.is_empty() {
            issuer.to_owned()
        } else {
            self.default_audience.clone()
        }
    }
}
