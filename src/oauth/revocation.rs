//! `POST /oauth/revoke` (RFC 7009): a client's own access token denied until it
//! expires; a client's own refresh token revokes its whole family (its session, with
//! the session's access tokens, RFC 7009 §2.1).

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::server::Clients;
use super::server::{server_error, unavailable_or_server_error, OAuthServer};
use super::{Form, OAuthError};
use crate::clients::AuthenticatedClient;
use crate::sessions::{self, EndReason, Ending, SessionId};
use crate::tokens::{AccessClaims, Purpose};

impl OAuthServer {
    /// `POST /oauth/revoke`: an access token of the caller is denied until it expires;
    /// a refresh token of the caller ends its session. A valid token of another client
    /// (a tenant admin token included: Tessera issued it to itself) is refused with
    /// `unauthorized_client` and stays valid (RFC 7009 §2.1: the server verifies the
    /// token was issued to the caller). Anything else (unknown, expired) is accepted and
    /// changes nothing (RFC 7009 §2.2). `token_type_hint` only says which kind to look
    /// for first (§2.1); a token is found whatever the hint says.
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
        if form.get("token_type_hint") == Some("refresh_token")
            && self.revoke_refresh_token(caller, token, now).await?
        {
            return Ok(());
        }
        if self.revoke_access_token(caller, token, now).await? {
            return Ok(());
        }
        self.revoke_refresh_token(caller, token, now).await?;
        Ok(())
    }

    /// Whether `token` is a valid access token of the caller, now revoked.
    async fn revoke_access_token(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, OAuthError> {
        let Ok(verified) = self.verifier.verify(token, Purpose::Any, now).await else {
            return Ok(false);
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
            .revoke_token(jti, client_id, exp * 1000, None, now.timestamp_millis())
            .await
            .map_err(server_error)?;
        self.deny_list.deny(jti, *exp);
        tracing::info!(%client_id, "access token revoked");
        Ok(true)
    }

    /// Whether `token` is a refresh token of the caller, its session now ended (if it
    /// had not ended already).
    async fn revoke_refresh_token(
        &self,
        caller: &AuthenticatedClient,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, OAuthError> {
        let Some(found) = self.stored_refresh_token(token).await? else {
            return Ok(false);
        };
        if found.token.client_id != caller.client.id.as_str() {
            return Err(OAuthError::UnauthorizedClient(
                "The token was not issued to this client.".into(),
            ));
        }
        let session = SessionId::parse(&found.session.id)
            .map_err(|problem| server_error(anyhow::anyhow!("corrupt session id: {problem}")))?;
        let ended = async {
            let mut tx = self.store.begin_write().await?;
            let ended =
                sessions::end(&mut tx, Ending::Session(&session), EndReason::Revoked, now).await?;
            tx.commit().await?;
            Ok::<_, anyhow::Error>(ended)
        }
        .await
        .map_err(unavailable_or_server_error)?;
        if !ended.is_empty() {
            self.sessions_ended(&ended, now);
            tracing::info!(client_id = %caller.client.id, "refresh token revoked: session ended");
        }
        Ok(true)
    }
}
