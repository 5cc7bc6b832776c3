//! The OAuth endpoints' logic: `/oauth/token` (RFC 6749 §4.4, §5), `/oauth/introspect`
//! (RFC 7662) and `/oauth/revoke` (RFC 7009), each from the raw form body and
//! `Authorization` header to a response value or an [`OAuthError`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::access_token::{issue_for_client, ACCESS_TOKEN_TYPE};
use super::resource::audiences;
use super::revocation::DenyList;
use super::scope::grant_scopes;
use super::{presented_client, Form, GrantType, OAuthError};
use crate::clients::secrets::ClientSecret;
use crate::clients::{AuthenticatedClient, ClientAuthError, ClientAuthenticator};
use crate::config::OAuthSettings;
use crate::keys::KeyService;
use crate::rate_limit::RequestLimiter;
use crate::store::Store;
use crate::telemetry::untrusted;
use tracing::field::display;

/// The grants `/oauth/token` serves, as `grant_type` values (RFC 6749).
pub const SUPPORTED_GRANTS: &[&str] = &["client_credentials"];

/// RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

pub struct OAuthServer {
    issuer: String,
    default_audience: String,
    resources: Vec<String>,
    scopes_supported: Vec<String>,
    store: Store,
    keys: Arc<KeyService>,
    clients: Arc<ClientAuthenticator>,
    deny_list: Arc<DenyList>,
    token_limiter: RequestLimiter,
    introspection_limiter: RequestLimiter,
    revocation_limiter: RequestLimiter,
    /// No token outlives the retention of the key that signed it
    /// (`signing.max_token_lifetime_seconds`).
    max_token_lifetime: i64,
}

pub struct OAuthParts {
    pub store: Store,
    pub keys: Arc<KeyService>,
    pub clients: Arc<ClientAuthenticator>,
    pub deny_list: Arc<DenyList>,
    pub token_limiter: RequestLimiter,
    pub introspection_limiter: RequestLimiter,
    pub revocation_limiter: RequestLimiter,
    pub max_token_lifetime_seconds: u64,
}

impl OAuthServer {
    pub fn new(issuer: &str, settings: &OAuthSettings, parts: OAuthParts) -> Self {
        let default_audience = if settings.default_audience.is_empty() {
            issuer.to_owned()
        } else {
            settings.default_audience.clone()
        };
        OAuthServer {
            issuer: issuer.to_owned(),
            default_audience,
            resources: settings.resources.clone(),
            scopes_supported: settings.scopes_supported.clone(),
            store: parts.store,
            keys: parts.keys,
            clients: parts.clients,
            deny_list: parts.deny_list,
            token_limiter: parts.token_limiter,
            introspection_limiter: parts.introspection_limiter,
            revocation_limiter: parts.revocation_limiter,
            max_token_lifetime: parts.max_token_lifetime_seconds as i64,
        }
    }

    pub fn metadata(&self) -> Value {
        super::metadata::metadata(&self.issuer, &self.scopes_supported)
    }

    pub fn forget_idle_limits(&self) {
        self.token_limiter.forget_idle();
        self.introspection_limiter.forget_idle();
        self.revocation_limiter.forget_idle();
        self.clients.forget_idle_failures();
    }

    /// `POST /oauth/token`.
    #[tracing::instrument(skip_all, fields(grant_type, client_id))]
    pub async fn token(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let form = Form::parse(body)?;
        let grant_type = form.require("grant_type")?;
        tracing::Span::current().record("grant_type", display(untrusted(grant_type)));
        let caller = self
            .authenticate(authorization, &form, &self.token_limiter, now)
            .await?;
        let response = self.grant(&caller, &form, grant_type, now);
        self.succeeded(&caller, response, now).await
    }

    fn grant(
        &self,
        caller: &AuthenticatedClient,
        form: &Form,
        grant_type: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let client = &caller.client;
        match grant_type {
            "client_credentials" => {
                if !client
                    .settings
                    .grant_types
                    .contains(&GrantType::ClientCredentials)
                {
                    return Err(OAuthError::UnauthorizedClient(
                        "This client may not use the client_credentials grant.".into(),
                    ));
                }
                let scopes = grant_scopes(form.get("scope"), &client.settings.allowed_scopes)?;
                let audiences = audiences(form, &self.resources, &self.default_audience)?;
                let lifetime = i64::from(client.settings.access_token_validity_seconds)
                    .min(self.max_token_lifetime);
                let issued = issue_for_client(
                    &self.keys,
                    &self.issuer,
                    client,
                    &scopes,
                    &audiences,
                    lifetime,
                    now,
                )
                .map_err(server_error)?;
                Ok(TokenResponse {
                    access_token: issued.access_token,
                    token_type: "Bearer",
                    expires_in: issued.expires_in,
                    scope: issued.scope,
                })
            }
            other => Err(OAuthError::UnsupportedGrantType(format!(
                "The grant type '{}' is not supported; use one of: {}.",
                other
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>(),
                SUPPORTED_GRANTS.join(", ")
            ))),
        }
    }

    /// `POST /oauth/introspect`: the claims of an active token of the caller's tenant,
    /// else `{"active": false}` and nothing more.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn introspect(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let form = Form::parse(body)?;
        let caller = self
            .authenticate(authorization, &form, &self.introspection_limiter, now)
            .await?;
        let response = self.inspect(&caller, &form, now).await;
        self.succeeded(&caller, response, now).await
    }

    async fn inspect(
        &self,
        caller: &AuthenticatedClient,
        form: &Form,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let token = form.require("token")?;
        let mut response = match self.active_claims(token, now).await? {
            Some(claims)
                if claims.get("tid").and_then(Value::as_str)
                    == Some(caller.client.tenant_id.as_str()) =>
            {
                claims
            }
            _ => return Ok(serde_json::json!({ "active": false })),
        };
        response.insert("active".into(), Value::Bool(true));
        response.insert("token_type".into(), Value::from("Bearer"));
        Ok(Value::Object(response))
    }

    /// `POST /oauth/revoke`: an access token of the caller is denied until it expires.
    /// A valid token of another client is refused with `unauthorized_client` and stays
    /// valid (RFC 7009 §2.1: the server verifies the token was issued to the caller).
    /// Anything else (unknown, expired, not an access token) is accepted and changes
    /// nothing (RFC 7009 §2.2). `token_type_hint` is not needed: the token's form says
    /// what it is.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn revoke(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let form = Form::parse(body)?;
        let caller = self
            .authenticate(authorization, &form, &self.revocation_limiter, now)
            .await?;
        let outcome = self.revoke_own(&caller, &form, now).await;
        self.succeeded(&caller, outcome, now).await
    }

    async fn revoke_own(
        &self,
        caller: &AuthenticatedClient,
        form: &Form,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let token = form.require("token")?;
        let Ok(verified) = self.keys.verify(token, now).await else {
            // Not a JWT of ours that is still valid: refresh tokens are opaque, and none
            // are issued yet, so there is nothing to revoke.
            return Ok(());
        };
        let claims = &verified.claims;
        let (Some(jti), Some(exp), Some(client_id)) = (
            claims.get("jti").and_then(Value::as_str),
            claims.get("exp").and_then(Value::as_i64),
            claims.get("client_id").and_then(Value::as_str),
        ) else {
            return Ok(());
        };
        if verified.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Ok(());
        }
        if client_id != caller.client.id.as_str() {
            return Err(OAuthError::UnauthorizedClient(
                "The token was not issued to this client.".into(),
            ));
        }
        self.store
            .revoke_token(jti, client_id, exp * 1000, now.timestamp_millis())
            .await
            .map_err(server_error)?;
        self.deny_list.deny(jti, exp);
        tracing::info!(%client_id, "access token revoked");
        Ok(())
    }

    /// The claims of a valid access token Tessera issued: signed by a published,
    /// unrevoked key, before its `exp` (no leeway), not revoked, of an enabled client
    /// that still exists in the tenant the token names. When the client cannot be
    /// looked up the answer is an error (503 when the database is unreachable), never a
    /// guess: `active: false` would read as a revocation.
    async fn active_claims(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Map<String, Value>>, OAuthError> {
        let Some(claims) = self.verified_access_claims(token, now).await else {
            return Ok(None);
        };
        let Some(client_id) = claims.get("client_id").and_then(Value::as_str) else {
            return Ok(None);
        };
        let client = match self.clients.client(client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Ok(None),
            Err(error) => return Err(unavailable_or_server_error(error)),
        };
        let current = client.settings.enabled
            && claims.get("tid").and_then(Value::as_str) == Some(client.tenant_id.as_str());
        Ok(current.then_some(claims))
    }

    /// The claims of an access token whose signature, type, `exp`, issuer and deny-list
    /// entry say it may be active; what needs no database.
    async fn verified_access_claims(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<Map<String, Value>> {
        let verified = self.keys.verify(token, now).await.ok()?;
        if verified.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return None;
        }
        let claims = verified.claims;
        // `verify` accepts a token up to the clock-skew leeway past its `exp`; here this
        // server's clock decides, so an expired token is inactive, and a revoked one
        // cannot come back when the deny-list forgets it at `exp`.
        if claims.get("exp").and_then(Value::as_i64)? <= now.timestamp() {
            return None;
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(self.issuer.as_str()) || self.deny_list.is_denied(text("jti")?) {
            return None;
        }
        Some(claims)
    }

    /// Records the client's use of its secret once its request has succeeded, so a
    /// refused request changes nothing stored.
    async fn succeeded<T>(
        &self,
        caller: &AuthenticatedClient,
        outcome: Result<T, OAuthError>,
        now: DateTime<Utc>,
    ) -> Result<T, OAuthError> {
        if outcome.is_ok() {
            self.clients.record_use(caller, now).await;
        }
        outcome
    }

    async fn authenticate(
        &self,
        authorization: Option<&str>,
        form: &Form,
        limiter: &RequestLimiter,
        now: DateTime<Utc>,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let presented = presented_client(authorization, form)?;
        let used_basic = presented.method == super::AuthMethod::Basic;
        tracing::Span::current().record("client_id", display(untrusted(&presented.client_id)));
        let Some(secret) = presented.secret else {
            return Err(OAuthError::InvalidClient { used_basic });
        };
        let secret = ClientSecret::presented(secrecy::ExposeSecret::expose_secret(&secret));
        let client = self
            .clients
            .authenticate(&presented.client_id, &secret, now)
            .await
            .map_err(|error| match error {
                ClientAuthError::InvalidClient => {
                    tracing::info!("client authentication failed");
                    OAuthError::InvalidClient { used_basic }
                }
                ClientAuthError::RateLimited(retry) => OAuthError::RateLimited {
                    retry_after_seconds: retry.0,
                },
                ClientAuthError::Unexpected(error) => unavailable_or_server_error(error),
            })?;
        limiter
            .check(client.client.id.as_str())
            .map_err(|retry| OAuthError::RateLimited {
                retry_after_seconds: retry.0,
            })?;
        Ok(client)
    }
}

/// How long a caller should wait when the database is unreachable.
const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

fn unavailable_or_server_error(error: anyhow::Error) -> OAuthError {
    if crate::store::is_unavailable(&error) {
        tracing::warn!(error = format!("{error:#}"), "database unavailable");
        OAuthError::Unavailable {
            retry_after_seconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
        }
    } else {
        server_error(error)
    }
}

fn server_error(error: anyhow::Error) -> OAuthError {
    tracing::error!(error = format!("{error:#}"), "OAuth request failed");
    OAuthError::ServerError
}
