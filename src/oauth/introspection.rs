//! `POST /oauth/introspect` (RFC 7662): is this token active, and its claims — for a
//! caller of the token's own tenant only.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::server::Clients;
use super::server::{server_error, unavailable_or_server_error, OAuthServer};
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::tokens::{AccessClaims, Purpose};

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
        let claims = match self.active_claims(token, now).await? {
            Some(claims) if claims.tid == caller.client.tenant_id.as_str() => claims,
            _ => return Ok(serde_json::json!({ "active": false })),
        };
        let Ok(Value::Object(mut response)) = serde_json::to_value(claims) else {
            return Err(server_error(anyhow::anyhow!("claims are not an object")));
        };
        response.insert("active".into(), Value::Bool(true));
        response.insert("token_type".into(), Value::from("Bearer"));
        Ok(Value::Object(response))
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
        let Ok(verified) = self
            .verifier
            .verify(token, Purpose::ClientAccess, now)
            .await
        else {
            return Ok(None);
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
