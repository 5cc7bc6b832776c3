//! `POST /oauth/introspect` (RFC 7662): is this token active, and its claims — for a
//! caller of the token's own tenant only. Access tokens (JWTs, a user's only while its
//! session goes on) and refresh tokens (looked up by hash: active while unused,
//! unexpired and their session goes on, not idle too long). `token_type_hint` says
//! which to try first. Introspecting a user's access token counts as its session's
//! activity (the resource server saw it used).

use std::net::IpAddr;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::server::Clients;
use super::server::{unavailable, unavailable_or_server_error, OAuthServer};
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::store::PresentedRows;
use crate::tokens::{AccessClaims, Audience, IdlePolicy, Purpose, TokenError};

/// RFC 7662 §2.2's answer: `{"active": false}` and nothing more for a token that is not
/// active (or not the caller's tenant's), else the token's claims. An access token's
/// answer also carries its client's configured claims.
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(example = json!({
    "active": true,
    "token_type": "Bearer",
    "iss": "https://auth.example.com",
    "sub": "hubster.portal.api",
    "aud": "https://api.example.com",
    "exp": 1767225600,
    "iat": 1767222000,
    "nbf": 1767222000,
    "jti": "7c1e0c1b7d3f4a55a0b8e0d1f2a3b4c5",
    "client_id": "hubster.portal.api",
    "scope": "read",
    "tid": "acme"
}))]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<IntrospectedType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Space-separated; absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// An access token's client's configured claims (seed 004).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// What kind of token an active answer describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum IntrospectedType {
    /// An access token.
    Bearer,
    #[serde(rename = "refresh_token")]
    RefreshToken,
}

fn inactive() -> Introspection {
    Introspection::default()
}

impl From<AccessClaims> for Introspection {
    fn from(claims: AccessClaims) -> Self {
        let AccessClaims {
            iss,
            sub,
            aud,
            exp,
            iat,
            nbf,
            jti,
            client_id,
            scope,
            tid,
            sid,
            auth_time,
            mut extra,
        } = claims;
        // A claim configured before its name was reserved must not repeat a member.
        extra.retain(|name, _| !crate::clients::RESERVED_CLAIMS.contains(&name.as_str()));
        Introspection {
            active: true,
            token_type: Some(IntrospectedType::Bearer),
            iss: Some(iss),
            sub: Some(sub),
            aud: Some(aud),
            exp: Some(exp),
            iat: Some(iat),
            nbf: Some(nbf),
            jti: Some(jti),
            client_id: Some(client_id),
            scope: (!scope.is_empty()).then_some(scope),
            tid: Some(tid),
            sid,
            auth_time,
            extra,
        }
    }
}

impl OAuthServer {
    /// `POST /oauth/introspect`: the claims of an active token of the caller's tenant,
    /// else `{"active": false}` and nothing more.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn introspect(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Introspection, OAuthError> {
        let form = Form::parse(body)?;
        // `active: true` from memory that may be stale could honour a revoked token.
        self.require_current_memory()?;
        let caller = self
            .authenticate(
                authorization,
                &form,
                source,
                Clients::Confidential,
                &self.introspection_limiter,
                now,
            )
            .await?;
        let response = self.inspect(&caller, &form, now).await;
        self.succeeded(&caller, response, now).await
    }

    async fn inspect(
        &self,
        caller: &AuthenticatedClient,
        form: &Form,
        now: DateTime<Utc>,
    ) -> Result<Introspection, OAuthError> {
        let token = form.require("token")?;
        let refresh_first = form.get("token_type_hint") == Some("refresh_token");
        if refresh_first {
            if let Some(answer) = self.inspect_refresh_token(caller, token, now).await? {
                return Ok(answer);
            }
        }
        if let Some(claims) = self.active_claims(token, now).await? {
            if claims.tid != caller.client.tenant_id.as_str() {
                return Ok(inactive());
            }
            return Ok(Introspection::from(claims));
        }
        if !refresh_first {
            if let Some(answer) = self.inspect_refresh_token(caller, token, now).await? {
                return Ok(answer);
            }
        }
        Ok(inactive())
    }

    /// The answer for a refresh token of the caller's tenant (RFC 7662 §2.2), if
    /// `token` is an active one.
    async fn inspect_refresh_token(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Introspection>, OAuthError> {
        let Some(PresentedRows {
            token,
            session,
            idle_timeout,
        }) = self.stored_refresh_token(token).await?
        else {
            return Ok(None);
        };
        let now_millis = now.timestamp_millis();
        let live = token.used_at.is_none()
            && now_millis < token.expires_at
            && session.ended_at.is_none()
            && now_millis < session.family_expires_at
            && session.tenant_id == caller.client.tenant_id.as_str();
        if !live {
            return Ok(None);
        }
        // The tenant's idle timeout as read with the token, in the same statement.
        let idle = idle_timeout
            .as_ref()
            .and_then(IdlePolicy::of)
            .is_some_and(|policy| policy.is_idle(session.last_active_at, now));
        if idle {
            return Ok(None);
        }
        let enabled = match self.clients.client(&token.client_id).await {
            Ok(client) => client.is_some_and(|client| client.settings.enabled),
            Err(error) => return Err(unavailable_or_server_error(error)),
        };
        if !enabled {
            return Ok(None);
        }
        Ok(Some(Introspection {
            active: true,
            token_type: Some(IntrospectedType::RefreshToken),
            client_id: Some(token.client_id),
            sub: Some(session.user_id),
            tid: Some(session.tenant_id),
            sid: Some(session.id),
            iss: Some(self.issuer.clone()),
            iat: Some(token.created_at / 1000),
            exp: Some(token.expires_at / 1000),
            scope: (!token.scope.is_empty()).then_some(token.scope),
            ..Introspection::default()
        }))
    }

    /// The claims of a valid access token Tessera issued (see
    /// [`crate::tokens::TokenVerifier`]) to an enabled client that still exists in the
    /// tenant the token names. When the client cannot be looked up the answer is an
    /// error (503 when the database is unreachable), never a guess: `active: false` would
    /// read as a revocation.
    async fn active_claims(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessClaims>, OAuthError> {
        let verified = match self
            .verifier
            .verify(token, Purpose::ClientAccess, now)
            .await
        {
            Ok(verified) => verified,
            Err(TokenError::Unavailable) => return Err(unavailable()),
            Err(_) => return Ok(None),
        };
        let claims = verified.claims;
        let client = match self.clients.client(&claims.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Ok(None),
            Err(error) => return Err(unavailable_or_server_error(error)),
        };
        let current = client.settings.enabled && claims.tid == client.tenant_id.as_str();
        Ok(current.then_some(claims))
    }
}
