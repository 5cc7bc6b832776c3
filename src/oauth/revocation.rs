//! `POST /oauth/revoke` (RFC 7009): a client's own access token denied until it expires.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::server::Clients;
use super::server::{server_error, OAuthServer};
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::tokens::{AccessClaims, Purpose};

impl OAuthServer {
    /// `POST /oauth/revoke`: an access token of the caller is denied until it expires.
    /// A valid token of another client (a tenant admin token included: Tessera issued it
    /// to itself) is refused with `unauthorized_client` and stays valid (RFC 7009 §2.1:
    /// the server verifies the token was issued to the caller). Anything else (unknown,
    /// expired, not an access token) is accepted and changes nothing (RFC 7009 §2.2).
    /// `token_type_hint` is not needed: the token's form says what it is.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn revoke(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let form = Form::parse(body)?;
        let caller = self
            .authenticate(
                authorization,
                &form,
                source,
                Clients::PublicToo,
                &self.revocation_limiter,
                now,
            )
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
        let Ok(verified) = self.verifier.verify(token, Purpose::Any, now).await else {
            // Not an access token of ours that is still valid: refresh tokens are opaque,
            // and none are issued yet, so there is nothing to revoke.
            return Ok(());
        };
        let AccessClaims {
            jti,
            exp,
            client_id,
            ..
        } = &verified.claims;
        if client_id != caller.client.id.as_str() {
            return Err(OAuthError::UnauthorizedClient(
                "The token was not issued to this client.".into(),
            ));
        }
        self.store
            .revoke_token(jti, client_id, exp * 1000, now.timestamp_millis())
            .await
            .map_err(server_error)?;
        self.deny_list.deny(jti, *exp);
        tracing::info!(%client_id, "access token revoked");
        Ok(())
    }
}
