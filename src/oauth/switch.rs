//! The tenant switch of the token API (seed 001): a user's access token of an internal
//! client becomes a new pair for another tenant of the user, in the same session, issued
//! through that tenant's built-in internal client (the one `POST /api/v1/tokens` uses
//! by default, made on first need). The session's rules are
//! [`crate::sessions::switch`]'s; this file finds the clients and issues the tokens.

use chrono::{DateTime, Utc};

use super::server::OAuthServer;
use crate::audit::AuditContext;
use crate::auth::UserCaller;
use crate::clients;
use crate::ids::SessionId;
use crate::metrics::TokenGrant;
use crate::sessions::switch::{switch, Switch, SwitchError};
use crate::tenants::TenantId;
use crate::tokens::access::{issue_for_user, Issue, UserSession};

/// The new pair.
pub struct SwitchedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
}

/// Without the tokens: a `Debug` print must never carry a credential.
impl std::fmt::Debug for SwitchedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchedTokens")
            .field("expires_in", &self.expires_in)
            .field("tenant_id", &self.tenant_id)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchTenantError {
    /// The token's session ended or moved meanwhile.
    #[error("the token no longer stands for its session")]
    SessionGone,
    /// Not an enabled member of the tenant (or no such tenant), or the token is not of
    /// an internal client (a third-party client's session cannot become a first-party
    /// one).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The tenant's built-in internal client, which issues the tokens, is disabled.
    #[error("the tenant has no internal client")]
    NoInternalClient,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl OAuthServer {
    /// Switches the session of `user` to `to`.
    #[tracing::instrument(skip_all, fields(session_id = %user.session_id, tenant_id = %to))]
    pub async fn switch_tenant(
        &self,
        user: &UserCaller,
        to: &TenantId,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<SwitchedTokens, SwitchTenantError> {
        let presenting = self.clients.client(&user.client_id).await?;
        if !presenting.is_some_and(|client| client.settings.internal) {
            return Err(SwitchTenantError::Forbidden(
                "Only a token of an internal (first-party) client can switch tenants.",
            ));
        }
        // A write (the built-in client's first creation) only for a member's tenant;
        // `switch` checks the membership again under its locks.
        if self
            .store
            .member(to.as_str(), user.user_id.as_str())
            .await?
            .is_none()
        {
            return Err(SwitchTenantError::Forbidden(NOT_MEMBER));
        }
        let client = match clients::builtin_client(&self.store, to, audit, now).await? {
            Some(client) if client.settings.enabled => std::sync::Arc::new(client),
            Some(_) => return Err(SwitchTenantError::NoInternalClient),
            None => return Err(SwitchTenantError::Forbidden(NOT_MEMBER)),
        };
        let switched = switch(
            &self.store,
            Switch {
                session_id: &user.session_id,
                user_id: &user.user_id,
                from_tenant: &user.tenant_id,
                to_tenant: to,
                client: &client,
            },
            now,
        )
        .await
        .map_err(|error| match error {
            SwitchError::SessionGone => SwitchTenantError::SessionGone,
            SwitchError::NotMember => SwitchTenantError::Forbidden(NOT_MEMBER),
            SwitchError::Unexpected(error) => SwitchTenantError::Unexpected(error),
        })?;
        let issued = issue_for_user(
            &Issue {
                keys: &self.keys,
                issuer: &self.issuer,
                client: &client,
                scopes: &switched.scope,
                audiences: std::slice::from_ref(&self.default_audience),
                lifetime: self.access_token_lifetime(&client),
            },
            &UserSession {
                user_id: user.user_id.clone(),
                tenant_id: to.clone(),
                session_id: user.session_id.clone(),
                auth_time: switched.auth_time,
            },
            now,
        )?;
        self.metrics.token_issued(TokenGrant::Switch);
        Ok(SwitchedTokens {
            access_token: issued.access_token,
            expires_in: issued.expires_in,
            refresh_token: switched
                .refresh_token
                .map(|token| token.expose().to_owned()),
            tenant_id: to.clone(),
            session_id: user.session_id.clone(),
        })
    }
}

const NOT_MEMBER: &str = "The user is not an enabled member of that tenant.";
