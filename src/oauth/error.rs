//! OAuth 2.0 error responses: one closed set whose `Display` is the RFC error code
//! (RFC 6749 §4.1.2.1, §5.2, RFC 8707 §2). The 4xx answers use only §5.2 codes (and RFC 8707's
//! registered `invalid_target`); §5.2 defines no code for a failure of the server, so
//! 500 and 503 use the registry's `server_error` and `temporarily_unavailable`. The HTTP layer turns it into the JSON body, status and
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
    /// The user (or the server for them) refused the authorization (RFC 6749 §4.1.2.1);
    /// only the authorization endpoint's redirects carry it.
    #[error("access_denied")]
    AccessDenied(String),
    /// RFC 6749 §4.1.2.1: a `response_type` other than `code`.
    #[error("unsupported_response_type")]
    UnsupportedResponseType(String),
    /// Rate limited: HTTP 429 with `Retry-After`. RFC 6749 §5.2 has no code for it
    /// (`temporarily_unavailable` belongs to the authorization endpoint, §4.1.2.1), so
    /// the token endpoint answers with the §5.2 code for a request it will not take,
    /// `invalid_request`; the status and `Retry-After` say why and when to return.
    #[error("invalid_request")]
    RateLimited { retry_after_seconds: u64 },
    /// The database cannot be reached, so the answer is not known (HTTP 503 with
    /// `Retry-After`): never guessed as active or inactive.
    #[error("temporarily_unavailable")]
    Unavailable { retry_after_seconds: u64 },
    /// Anything unexpected; details go to the log only.
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    /// The `error_description`: for people, never revealing which check failed where
    /// that would help an attacker. Characters RFC 6749 §5.2 does not allow there
    /// (anything but `%x20-21 / %x23-5B / %x5D-7E`, so also `"` and `\`), which echoed
    /// request values may bring, become `?`.
    pub fn description(&self) -> String {
        let text = match self {
            OAuthError::InvalidRequest(text)
            | OAuthError::InvalidGrant(text)
            | OAuthError::UnauthorizedClient(text)
            | OAuthError::UnsupportedGrantType(text)
            | OAuthError::InvalidScope(text)
            | OAuthError::InvalidTarget(text)
            | OAuthError::AccessDenied(text)
            | OAuthError::UnsupportedResponseType(text) => text.clone(),
            OAuthError::InvalidClient { .. } => "Client authentication failed.".into(),
            OAuthError::RateLimited { .. } => "Too many requests; retry later.".into(),
            OAuthError::Unavailable { .. } => {
                "The server cannot answer this now; retry later.".into()
            }
            OAuthError::ServerError => "The server could not complete the request.".into(),
        };
        text.chars()
            .map(|c| if is_description_char(c) { c } else { '?' })
            .collect()
    }
}

/// RFC 6749 §5.2: `error-description = 1*( %x20-21 / %x23-5B / %x5D-7E )`.
fn is_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_the_rfc_character_set() {
        let error = OAuthError::InvalidScope("'re\"a\\d caf\u{e9}\t' is not allowed".into());
        assert_eq!(error.description(), "'re?a?d caf??' is not allowed");
        assert!(OAuthError::InvalidClient { used_basic: true }
            .description()
            .chars()
            .all(is_description_char));
    }
}
