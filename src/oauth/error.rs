//! OAuth 2.0 error responses: one closed set whose `Display` is the RFC error code
//! (RFC 6749 §5.2, RFC 8707 §2). The HTTP layer turns it into the JSON body, status and
//! headers in one place.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Missing, repeated or malformed parameters; a body that is not a form.
    #[error("invalid_request")]
    InvalidRequest(String),
    /// Client authentication failed. One answer for unknown clients, wrong, expired or
    /// deleted secrets and disabled clients, so none can be told apart.
    #[error("invalid_client")]
    InvalidClient { used_basic: bool },
    #[error("invalid_grant")]
    InvalidGrant(String),
    #[error("unauthorized_client")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(String),
    #[error("invalid_scope")]
    InvalidScope(String),
    /// RFC 8707 §2: a `resource` that is malformed or not served to this client.
    #[error("invalid_target")]
    InvalidTarget(String),
    /// Rate limited (HTTP 429 with `Retry-After`).
    #[error("temporarily_unavailable")]
    RateLimited { retry_after_seconds: u64 },
    /// Anything unexpected; details go to the log only.
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    /// The `error_description`: for people, never revealing which check failed where
    /// that would help an attacker.
    pub fn description(&self) -> String {
        match self {
            OAuthError::InvalidRequest(text)
            | OAuthError::InvalidGrant(text)
            | OAuthError::UnauthorizedClient(text)
            | OAuthError::UnsupportedGrantType(text)
            | OAuthError::InvalidScope(text)
            | OAuthError::InvalidTarget(text) => text.clone(),
            OAuthError::InvalidClient { .. } => "Client authentication failed.".into(),
            OAuthError::RateLimited { .. } => "Too many requests; retry later.".into(),
            OAuthError::ServerError => "The server could not complete the request.".into(),
        }
    }
}
