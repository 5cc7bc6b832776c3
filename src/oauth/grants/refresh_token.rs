//! The refresh token grant (RFC 6749 §6, RFC 9700 §4.14.2): a client presents the
//! refresh token of a user's session and gets a new one with a fresh access token for
//! that user. The rules (rotation, reuse, grace, expiry) are the sessions module's
//! (`sessions/refresh.rs`); this file parses the request and issues the access token.
//! The first-party token API's refresh (`/api/v1/tokens/refresh`) goes through the
//! same [`refresh_and_issue`], for internal clients only.

use chrono::{DateTime, Utc};

use super::TokenResponse;
use crate::clients::AccessType;
use crate::clients::AuthenticatedClient;
use crate::clients::ScopeToken;
use crate::metrics::TokenGrant;
use crate::oauth::resource::audiences;
use crate::oauth::server::{server_error, unavailable_or_server_error, OAuthServer};
use crate::oauth::{Form, OAuthError};
use crate::sessions::offers_refresh;
use crate::sessions::refresh::{refresh, RefreshError, RefreshRequest};
use crate::tokens::access::{issue_for_user, Issue, UserSession, UserTokens};
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
    let presented = RefreshRequest {
        token: &request.refresh_token,
        client,
        scope: request.scope.as_deref(),
    };
    let tokens = refresh_and_issue(server, presented, &audiences, now).await?;
    Ok(TokenResponse {
        access_token: tokens.access.access_token,
        token_type: "Bearer",
        expires_in: tokens.access.expires_in,
        scope: tokens.access.scope,
        refresh_token: tokens.refresh_token.map(|token| token.expose().to_owned()),
    })
}

impl OAuthServer {
    /// `POST /api/v1/tokens/refresh` (seed 001): the refresh token of a first-party
    /// session, presented without client authentication, refreshed by the same rules
    /// and code as this grant, for the session's own client. Only a refresh token of an
    /// enabled internal client is taken: another client's belongs to `/oauth/token`,
    /// where that client authenticates. Every refusal is one `invalid_grant`.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_first_party(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> Result<UserTokens, OAuthError> {
        // The client comes from memory, as at the token endpoint.
        self.require_current_memory()?;
        let Some(stored) = self.stored_refresh_token(raw).await? else {
            return Err(OAuthError::InvalidGrant(INVALID.into()));
        };
        let client = self
            .client(&stored.token.client_id)
            .await
            .map_err(unavailable_or_server_error)?
            .filter(|client| {
                client.settings.internal
                    && client.settings.enabled
                    && client.settings.access_type == AccessType::Offline
            });
        let Some(client) = client else {
            tracing::info!("refresh token of a non-internal client refused at the token API");
            return Err(OAuthError::InvalidGrant(INVALID.into()));
        };
        let token = OpaqueToken::presented(raw);
        let presented = RefreshRequest {
            token: &token,
            client: &client,
            scope: None,
        };
        let audiences = std::slice::from_ref(&self.default_audience);
        let tokens = refresh_and_issue(self, presented, audiences, now).await?;
        self.metrics.token_issued(TokenGrant::FirstPartyRefresh);
        Ok(tokens)
    }
}

/// Every refresh, whichever endpoint it came to: the rotation, reuse and grace rules
/// of `sessions/refresh.rs`, then a fresh access token for the session.
async fn refresh_and_issue(
    server: &OAuthServer,
    presented: RefreshRequest<'_>,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<UserTokens, OAuthError> {
    // Anything but the form of a token Tessera issues cannot be one: no lookup.
    if !OpaqueToken::is_well_formed(presented.token.expose()) {
        return Err(OAuthError::InvalidGrant(INVALID.into()));
    }
    let client = presented.client;
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
        audiences,
        lifetime: server.access_token_lifetime(client),
    };
    let access = issue_for_user(&issue, &user, now).map_err(server_error)?;
    Ok(UserTokens {
        access,
        refresh_token: Some(refreshed.refresh_token),
        session: user,
    })
}
