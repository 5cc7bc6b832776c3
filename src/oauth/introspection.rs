//! `POST /oauth/introspect` (RFC 7662): is this token active, and its claims — for a
//! caller of the token's own tenant only. Access tokens (JWTs, a user's only while its
//! session goes on) and refresh tokens (looked up by hash: active while unused,
//! unexpired and their session goes on, not idle too long). `token_type_hint` says
//! which to try first. Introspecting a user's access token counts as its session's
//! activity (the resource server saw it used).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::server::Clients;
use super::server::{server_error, unavailable, unavailable_or_server_error, OAuthServer};
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::store::PresentedRows;
use crate::tokens::{AccessClaims, Purpose, TokenError};

fn inactive() -> Value {
    serde_json::json!({ "active": false })
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
    ) -> Result<Value, OAuthError> {
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
    ) -> Result<Value, OAuthError> {
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
            let Ok(Value::Object(mut response)) = serde_json::to_value(claims) else {
                return Err(server_error(anyhow::anyhow!("claims are not an object")));
            };
            response.insert("active".into(), Value::Bool(true));
            response.insert("token_type".into(), Value::from("Bearer"));
            return Ok(Value::Object(response));
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
    ) -> Result<Option<Value>, OAuthError> {
        let Some(PresentedRows { token, session }) = self.stored_refresh_token(token).await? else {
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
        let idle = match self.verifier.sessions().policy(&session.tenant_id).await {
            Ok(policy) => policy.is_some_and(|policy| policy.is_idle(session.last_active_at, now)),
            Err(error) => return Err(unavailable_or_server_error(error)),
        };
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
        let mut answer = serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": token.client_id,
            "sub": session.user_id,
            "tid": session.tenant_id,
            "sid": session.id,
            "iss": self.issuer,
            "iat": token.created_at / 1000,
            "exp": token.expires_at / 1000,
        });
        if !token.scope.is_empty() {
            answer["scope"] = Value::from(token.scope);
        }
        Ok(Some(answer))
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
