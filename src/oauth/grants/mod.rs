//! `POST /oauth/token` (RFC 6749 §3.2, §5): a token request parsed once into a
//! [`GrantRequest`], the client authenticated, then the grant's own file decides.
//! [`SUPPORTED_GRANTS`] is the one list of grants served; the metadata reads it.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::server::Clients;
use super::server::OAuthServer;
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::clients::GrantType;
use crate::metrics::TokenGrant;
use crate::telemetry::untrusted;
use tracing::field::display;

/// The grants `/oauth/token` serves, in the order the metadata lists them.
pub const SUPPORTED_GRANTS: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
];

/// RFC 6749 §5.1.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OAuthTokenResponse, example = json!({
    "access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9...",
    "token_type": "Bearer",
    "expires_in": 750,
    "scope": "read"
}))]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The scope granted, space-separated; absent when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Only for a user's session, from a client that gets refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// A token request: which grant, with that grant's parameters.
#[derive(Debug)]
pub enum GrantRequest {
    ClientCredentials(client_credentials::Request),
    AuthorizationCode(authorization_code::Request),
    RefreshToken(refresh_token::Request),
}

impl GrantRequest {
    /// The request of the `grant_type` named, when Tessera serves that grant.
    pub fn parse(grant_type: &str, form: &Form) -> Result<Self, OAuthError> {
        match GrantType::from_grant_type(grant_type).filter(|g| SUPPORTED_GRANTS.contains(g)) {
            Some(GrantType::ClientCredentials) => Ok(GrantRequest::ClientCredentials(
                client_credentials::Request::parse(form),
            )),
            Some(GrantType::AuthorizationCode) => Ok(GrantRequest::AuthorizationCode(
                authorization_code::Request::parse(form),
            )),
            Some(GrantType::RefreshToken) => Ok(GrantRequest::RefreshToken(
                refresh_token::Request::parse(form)?,
            )),
            _ => Err(OAuthError::UnsupportedGrantType(format!(
                "The grant type '{}' is not supported; use one of: {}.",
                grant_type
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>(),
                SUPPORTED_GRANTS
                    .iter()
                    .map(|grant| grant.grant_type())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            GrantRequest::ClientCredentials(_) => GrantType::ClientCredentials,
            GrantRequest::AuthorizationCode(_) => GrantType::AuthorizationCode,
            GrantRequest::RefreshToken(_) => GrantType::RefreshToken,
        }
    }
}

impl OAuthServer {
    /// `POST /oauth/token`. A grant this server does not serve is reported once the
    /// client has authenticated, so an unauthenticated caller learns nothing but
    /// `invalid_client`. While the change feed cannot be read: 503, before the client
    /// is looked up (it may have been disabled or deleted meanwhile).
    #[tracing::instrument(skip_all, fields(grant_type, client_id))]
    pub async fn token(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let form = Form::parse(body)?;
        let grant_type = form.require("grant_type")?;
        tracing::Span::current().record("grant_type", display(untrusted(grant_type)));
        let request = GrantRequest::parse(grant_type, &form);
        self.require_current_memory()?;
        let caller = self
            .authenticate(
                authorization,
                &form,
                source,
                Clients::PublicToo,
                &self.token_limiter,
                now,
            )
            .await?;
        let request = request?;
        let grant = match request.grant_type() {
            GrantType::ClientCredentials => TokenGrant::ClientCredentials,
            GrantType::AuthorizationCode => TokenGrant::AuthorizationCode,
            GrantType::RefreshToken => TokenGrant::RefreshToken,
        };
        let response = self.grant(&caller, request, now).await;
        let response = self.succeeded(&caller, response, now).await?;
        self.metrics.token_issued(grant);
        Ok(response)
    }

    async fn grant(
        &self,
        caller: &AuthenticatedClient,
        request: GrantRequest,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = request.grant_type();
        if !caller.client.settings.grant_types.contains(&grant_type) {
            return Err(OAuthError::UnauthorizedClient(format!(
                "This client may not use the {} grant.",
                grant_type.grant_type()
            )));
        }
        match request {
            GrantRequest::ClientCredentials(request) => {
                client_credentials::grant(self, caller, request, now)
            }
            GrantRequest::AuthorizationCode(request) => {
                authorization_code::grant(self, caller, request, now).await
            }
            GrantRequest::RefreshToken(request) => {
                refresh_token::grant(self, caller, request, now).await
            }
        }
    }
}
