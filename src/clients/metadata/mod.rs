//! A client's registration metadata (RFC 7591 §2): the grant types it may use, the
//! scope tokens it may be granted, the redirect URIs it registered. Values with their
//! own parse rules, below `oauth` so that clients need not import the protocol; the
//! rules that use them at request time (which scopes a token request gets, and next,
//! how the authorization endpoint matches a redirect URI) are `oauth`'s.

mod redirect_uri;
mod scope;

pub use redirect_uri::{RedirectUri, MAX_REDIRECT_URI_LEN};
pub use scope::{scope_string, ScopeToken, MAX_SCOPE_TOKEN_LEN};

/// The grants a client may use (RFC 6749 §4.1, §4.4, §6), in the spelling of seed 002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
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
