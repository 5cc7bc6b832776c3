//! Signing in with a password through the first-party token API (seed 001,
//! `POST /api/v1/tokens`): a username and password, an optional tenant and an optional
//! internal client become a session and its tokens, with the login page's rules.
//!
//! - The client: the one named, which must be an enabled internal client (seed 002's
//!   `internal: true`) of the tenant; else the tenant's built-in internal client
//!   ([`crate::clients::builtin_client`], created the first time it is needed). Its
//!   settings apply: `accessTokenValiditySeconds`, `refreshTokenValiditySeconds`, its
//!   claims; its `allowedScopes` are the session's scope; `OFFLINE` gives the session a
//!   refresh token. A client named wrongly is refused before any password is checked.
//! - The tenant: the one asked for; else the named client's; else the user's default
//!   tenant if the user is a member there; else the tenant of its oldest membership.
//! - Failed attempts are limited before the password is checked, by the login page's
//!   own [`super::LoginLimiter`] (the same instance: the page and the API share each
//!   account's and address's budget). Unknown user and wrong password are one refusal
//!   at one cost ([`crate::users::verify_credentials`]). Right password but a disabled
//!   user or no membership of the tenant: forbidden, no token.
//! - While the change feed cannot be read, nothing is checked and no token issued (503):
//!   the key that would sign it, or the client, may have been revoked elsewhere, as at
//!   the token endpoint.
//! - The session starts through [`crate::sessions::start`], in a transaction that
//!   reads the user's state again under lock (`Store::lock_sign_in`), so a user
//!   disabled, given a new password or removed meanwhile gets no session that outlives
//!   the change.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::LoginService;
use crate::audit::AuditContext;
use crate::clients::{self, Client, ClientId};
use crate::metrics::{AuthFailure, Limit, TokenGrant};
use crate::rate_limit::RetryAfter;
use crate::sessions::{self, StartSession};
use crate::store::Store;
use crate::tenants::TenantId;
use crate::tokens::access::{UserSession, UserTokens};
use crate::users::{self, CredentialsError, User};

/// A sign-in as the token API's body says it.
#[derive(Debug)]
pub struct PasswordSignIn {
    pub username: String,
    pub password: SecretString,
    pub tenant_id: Option<TenantId>,
    pub client_id: Option<ClientId>,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordSignInError {
    /// `clientId` names no enabled internal client (of the tenant asked for).
    #[error("{0}")]
    InvalidClient(String),
    #[error("too many failed sign-ins")]
    TooManyAttempts(RetryAfter),
    /// Unknown user or wrong password: one answer for both.
    #[error("the username or password is not valid")]
    Refused,
    /// The password was right, but the user is disabled or not a member of the tenant.
    #[error("the user may not sign in to this tenant")]
    Forbidden,
    /// The change feed cannot be read: the signing key or the client in memory may have
    /// been revoked or disabled elsewhere, so no token is issued (503).
    #[error("the server's state cannot be confirmed current")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl LoginService {
    /// Signs the user in and starts its session (see the module header).
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_password(
        &self,
        request: PasswordSignIn,
        audit: &AuditContext,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<UserTokens, PasswordSignInError> {
        if !self.oauth.memory_is_current() {
            return Err(PasswordSignInError::Unavailable);
        }
        let named = match &request.client_id {
            Some(id) => Some(self.internal_client(id, request.tenant_id.as_ref()).await?),
            None => None,
        };
        let attempt = self
            .limiter
            .admit(&request.username, source, std::time::Instant::now())
            .map_err(|retry| {
                self.oauth.metrics().rate_limited(Limit::Login);
                PasswordSignInError::TooManyAttempts(retry)
            })?;
        let verified =
            users::verify_credentials(&self.store, &request.username, &request.password, now).await;
        let authenticated = match verified {
            Ok(authenticated) => {
                attempt.succeeded();
                authenticated
            }
            Err(CredentialsError::Refused) => {
                attempt.failed();
                self.oauth
                    .metrics()
                    .authentication_failed(AuthFailure::User);
                tracing::info!("password sign-in refused");
                return Err(PasswordSignInError::Refused);
            }
            Err(CredentialsError::Disabled) => {
                attempt.succeeded();
                tracing::info!("password sign-in of a disabled user refused");
                return Err(PasswordSignInError::Forbidden);
            }
            Err(CredentialsError::Unexpected(error)) => return Err(error.into()),
        };
        let user = &authenticated.user;
        let tenant = match (request.tenant_id, &named) {
            (Some(tenant), _) => tenant,
            (None, Some(client)) => client.tenant_id.clone(),
            (None, None) => self
                .home_tenant(user)
                .await?
                .ok_or(PasswordSignInError::Forbidden)?,
        };
        if users::membership(&self.store, &tenant, &user.id)
            .await?
            .is_none()
        {
            tracing::info!(user_id = %user.id, tenant_id = %tenant, "password sign-in of a non-member refused");
            return Err(PasswordSignInError::Forbidden);
        }
        let client = match named {
            Some(client) => client,
            None => Arc::new(
                clients::builtin_client(&self.store, &tenant, audit, now)
                    .await?
                    // An admin who disabled it stopped the tenant's password sign-ins.
                    .filter(|client| client.settings.enabled && client.settings.internal)
                    .ok_or(PasswordSignInError::Forbidden)?,
            ),
        };
        let scope = client.settings.allowed_scopes.clone();
        // Again after the password check's tens of milliseconds, just before signing.
        if !self.oauth.memory_is_current() {
            return Err(PasswordSignInError::Unavailable);
        }
        let mut tx = self.store.begin_write().await?;
        let state = Store::lock_sign_in(&mut tx, user.id.as_str(), tenant.as_str()).await?;
        let auth_time = authenticated.auth_time;
        let still_allowed = state.is_some_and(|state| {
            state.enabled
                && state.member
                && state.password_changed_at <= auth_time.timestamp_millis()
        });
        if !still_allowed {
            return Err(PasswordSignInError::Forbidden);
        }
        let start = StartSession {
            user_id: user.id.clone(),
            tenant_id: tenant.clone(),
            refresh_token: sessions::first_party_offers_refresh(&client),
            client: client.clone(),
            scope: scope.clone(),
            auth_time,
        };
        let started = sessions::start(&mut tx, start, self.oauth.token_settings(), now).await?;
        tx.commit().await?;
        let session = UserSession {
            user_id: user.id.clone(),
            tenant_id: tenant,
            session_id: started.session_id,
            auth_time,
        };
        let access = self
            .oauth
            .issue_session_token(&client, &session, &scope, now)?;
        tracing::info!(user_id = %session.user_id, tenant_id = %session.tenant_id, client_id = %client.id, "user signed in through the token API");
        self.oauth.metrics().token_issued(TokenGrant::Password);
        Ok(UserTokens {
            access,
            refresh_token: started.refresh_token,
            session,
        })
    }

    /// The client `id` if it is an enabled internal client (of `tenant`, when given).
    async fn internal_client(
        &self,
        id: &ClientId,
        tenant: Option<&TenantId>,
    ) -> Result<Arc<Client>, PasswordSignInError> {
        let client = self
            .oauth
            .client(id.as_str())
            .await?
            .filter(|client| client.settings.internal && client.settings.enabled)
            .ok_or_else(|| {
                PasswordSignInError::InvalidClient(format!(
                    "clientId: '{id}' is not an enabled internal client"
                ))
            })?;
        match tenant {
            Some(tenant) if *tenant != client.tenant_id => Err(PasswordSignInError::InvalidClient(
                format!("clientId: '{id}' is not a client of tenant '{tenant}'"),
            )),
            _ => Ok(client),
        }
    }

    /// Where a sign-in that names no tenant goes: the user's default tenant if it is a
    /// member there, else its oldest membership's.
    async fn home_tenant(&self, user: &User) -> anyhow::Result<Option<TenantId>> {
        if let Some(tenant) = &user.profile.default_tenant_id {
            if users::membership(&self.store, tenant, &user.id)
                .await?
                .is_some()
            {
                return Ok(Some(tenant.clone()));
            }
        }
        self.store
            .first_membership(user.id.as_str())
            .await?
            .map(|tenant| TenantId::parse(&tenant).map_err(anyhow::Error::msg))
            .transpose()
    }
}
