//! OAuth 2.0 protocol rules that need no HTTP and no SQL: request parsing, client
//! authentication methods, errors, scope tokens, redirect URIs, grant types, PKCE and the
//! authorization endpoint's rules.

pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod grants;
pub mod introspection;
pub mod metadata;
pub mod pkce;
pub mod redirect_uri;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod server;

pub use client_auth::{presented_client, AuthMethod, PresentedClient};
pub use error::OAuthError;
pub use form::Form;
pub use grants::{GrantRequest, TokenResponse, SUPPORTED_GRANTS};
pub use redirect_uri::RedirectUri;
pub use scope::ScopeToken;
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
}

/// The grants a client may use (RFC 6749 §4.1, §4.4, §6), in the spelling of seed 002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
    ];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.as_str() == raw)
            .ok_or_else(|| {
                format!(
                    "'{raw}' is not one of CLIENT_CREDENTIALS, AUTHORIZATION_CODE, REFRESH_TOKEN"
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "CLIENT_CREDENTIALS",
            GrantType::AuthorizationCode => "AUTHORIZATION_CODE",
            GrantType::RefreshToken => "REFRESH_TOKEN",
        }
    }

    /// The `grant_type` value of the token endpoint (RFC 6749 §4.1.3, §4.4.2, §6).
    pub fn grant_type(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    pub fn from_grant_type(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.grant_type() == raw)
    }
}
