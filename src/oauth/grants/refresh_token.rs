//! The refresh token grant (RFC 6749 §6, RFC 9700 §4.14.2): a client presents the
//! refresh token of a user's session and gets a new one with a fresh access token for
//! that user. The rules (rotation, reuse, grace, expiry) are the sessions module's
//! (`sessions/refresh.rs`); this file parses the request and issues the access token.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use crate::clients::AuthenticatedClient;
use crate::clients::ScopeToken;
use crate::oauth::resource::audiences;
use crate::oauth::server::{server_error, unavailable_or_server_error, OAuthServer};
use crate::oauth::{Form, OAuthError};
use crate::sessions::offers_refresh;
use crate::sessions::refresh::{refresh, RefreshError, RefreshRequest};
use crate::tokens::access::{issue_for_user, Issue, UserSession};
use crate::tokens::OpaqueToken;

/// One answer for every refused token, so none can be told apart.
const INVALID: &str = "The refresh token is invalid, expired or revoked.";

#[derive(Debug)]
pub struct Request {
    refresh_token: OpaqueToken,
    /// Syntactically valid scope tokens, when the client narrows the scope.
    scope: Option<Vec<ScopeToken>>,
    resources: Vec<String>,
}

impl Request {
    pub fn parse(form: &Form) -> Result<Self, OAuthError> {
        let refresh_token = OpaqueToken::presented(form.require("refresh_token")?);
        let scope = form
            .get("scope")
            .map(|raw| {
                let mut scopes: Vec<ScopeToken> = Vec::new();
                for raw in raw.split(' ').filter(|raw| !raw.is_empty()) {
                    let scope = ScopeToken::parse(raw).map_err(|_| {
                        OAuthError::InvalidScope(format!(
                            "The scope '{raw}' is not a scope token (RFC 6749 section 3.3)."
                        ))
                    })?;
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
                Ok(scopes)
            })
            .transpose()?;
        Ok(Request {
            refresh_token,
            scope,
            resources: form.all("resource").map(str::to_owned).collect(),
        })
    }
}

pub async fn grant(
    server: &OAuthServer,
    caller: &AuthenticatedClient,
    request: Request,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let client = &caller.client;
    if !offers_refresh(client) {
        return Err(OAuthError::UnauthorizedClient(
            "This client does not use refresh tokens (its accessType is ONLINE).".into(),
        ));
    }
    let audiences = audiences(
        &request.resources,
        &server.resources,
        &server.default_audience,
    )?;
    // Anything but the form of a token Tessera issues cannot be one: no lookup.
    if !OpaqueToken::is_well_formed(request.refresh_token.expose()) {
        return Err(OAuthError::InvalidGrant(INVALID.into()));
    }
    let presented = RefreshRequest {
        token: &request.refresh_token,
        client,
        scope: request.scope.as_deref(),
    };
    let refreshed = match refresh(&server.store, presented, &server.tokens, now).await {
        Ok(refreshed) => refreshed,
        Err(RefreshError::Refused(_)) => return Err(OAuthError::InvalidGrant(INVALID.into())),
        Err(RefreshError::Reused(session)) => {
            server.sessions_ended(&[session], now);
            return Err(OAuthError::InvalidGrant(INVALID.into()));
        }
        Err(RefreshError::ScopeWidened(scope)) => {
            return Err(OAuthError::InvalidScope(format!(
                "The scope '{scope}' was not granted to this refresh token."
            )))
        }
        Err(RefreshError::Unexpected(error)) => return Err(unavailable_or_server_error(error)),
    };
    let user = UserSession {
        user_id: refreshed.user_id,
        tenant_id: refreshed.tenant_id,
        session_id: refreshed.session_id,
        auth_time: refreshed.auth_time,
    };
    let issue = Issue {
        keys: &server.keys,
        issuer: &server.issuer,
        client,
        scopes: &refreshed.scope,
        audiences: &audiences,
        lifetime: server.access_token_lifetime(client),
    };
    let issued = issue_for_user(&issue, &user, now).map_err(server_error)?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
        refresh_token: Some(refreshed.refresh_token.expose().to_owned()),
    })
}
