//! Who is calling: the one place a bearer credential becomes a [`Caller`].
//!
//! [`Authenticator::authenticate`] accepts the admin API key (the global admin) or a
//! tenant admin token (an admin of one tenant, which must still exist and have existed
//! when the token was issued). [`Authenticator::user`] accepts a user's access token
//! (the token API: `/api/v1/tokens/me`, the switch), honoured only while its session
//! is. The portal ([`Authenticator::portal_session`]) takes a tenant admin token from
//! the portal cookie, and so does the API ([`Authenticator::portal_caller`]), there only
//! with the session's CSRF token. The API's extractor and the portal both ask it;
//! nothing else decides who is calling.

pub mod admin_key;
mod caller;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use caller::{Caller, Forbidden, TenantScope, UserCaller};

use crate::changes::Freshness;
use crate::clients::ClientAuthenticator;
use crate::ids::{SessionId, UserId};
use crate::store::Store;
use crate::tenants::{self, Tenant, TenantError, TenantId};
use crate::tokens::portal_link;
use crate::tokens::tenant_admin::TenantTokenService;
use crate::tokens::{Activity, Purpose, TokenError};
use admin_key::AdminKeyVerifier;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a credential this server honours (wrong, expired, revoked, of a deleted
    /// tenant): one answer for all.
    #[error("the credential is not valid")]
    Invalid,
    /// What decides whether the credential is honoured could not be read.
    #[error("the credential cannot be checked now")]
    Unavailable,
    /// A portal session's cookie without the session's CSRF token (or with another):
    /// the call did not come from the portal's page, whatever the cookie is worth.
    #[error("the portal session's CSRF token is missing or wrong")]
    CsrfRefused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct Authenticator {
    admin_key: AdminKeyVerifier,
    tenant_tokens: TenantTokenService,
    store: Store,
    /// A user token is honoured only while its client exists, is enabled and is of the
    /// token's tenant (as introspection requires).
    clients: Arc<ClientAuthenticator>,
    /// A user token is answered from memory: only while that is known to be current.
    freshness: Arc<Freshness>,
}

impl Authenticator {
    pub fn new(
        admin_key: AdminKeyVerifier,
        tenant_tokens: TenantTokenService,
        store: Store,
        clients: Arc<ClientAuthenticator>,
        freshness: Arc<Freshness>,
    ) -> Self {
        Authenticator {
            admin_key,
            tenant_tokens,
            store,
            clients,
            freshness,
        }
    }

    /// The tenant admin token service (issuing, renewing, revoking).
    pub fn tenant_tokens(&self) -> &TenantTokenService {
        &self.tenant_tokens
    }

    /// The user whose access token `credential` is, while its session honours it;
    /// `activity` says whether this use counts as the session's activity. Unavailable
    /// while the change feed cannot be read: the session may have ended elsewhere.
    pub async fn user(
        &self,
        credential: &str,
        activity: Activity,
        now: DateTime<Utc>,
    ) -> Result<UserCaller, AuthError> {
        if !self.freshness.is_current() {
            return Err(AuthError::Unavailable);
        }
        let verified = self
            .tenant_tokens
            .verifier
            .verify_with(credential, Purpose::User, activity, now)
            .await
            .map_err(|error| match error {
                TokenError::Unavailable => AuthError::Unavailable,
                _ => AuthError::Invalid,
            })?;
        let claims = verified.claims;
        let client = self.clients.client(&claims.client_id).await?;
        if !client.is_some_and(|client| {
            client.settings.enabled && client.tenant_id.as_str() == claims.tid
        }) {
            return Err(AuthError::Invalid);
        }
        let corrupt = |_| AuthError::Invalid;
        Ok(UserCaller {
            user_id: UserId::parse(&claims.sub).map_err(corrupt)?,
            tenant_id: TenantId::parse(&claims.tid).map_err(corrupt)?,
            session_id: SessionId::parse(claims.sid.as_deref().unwrap_or_default())
                .map_err(corrupt)?,
            scope: claims.scope,
            client_id: claims.client_id,
            issued_at: claims.iat,
            expires_at: claims.exp,
            idle_expires_at: verified.idle_expires_at,
        })
    }

    /// The caller `credential` (a bearer credential) stands for.
    pub async fn authenticate(
        &self,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthError> {
        if self.admin_key.verify(credential) {
            return Ok(Caller::GlobalAdmin);
        }
        self.tenant_admin(credential, now)
            .await
            .map(|(tenant, _)| Caller::TenantAdmin(tenant.id))
    }

    /// The tenant whose portal session `token` (the portal cookie's tenant admin token)
    /// is, and when the session ends (Unix seconds): the portal honours nothing else,
    /// not even the admin API key.
    pub async fn portal_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Tenant, i64), AuthError> {
        self.tenant_admin(token, now).await
    }

    /// The caller a call to the API with the portal cookie stands for: the tenant admin
    /// of the session `token`, honoured only with its CSRF token `csrf` (checked first,
    /// so a forged call learns nothing of the cookie).
    pub async fn portal_caller(
        &self,
        token: &str,
        csrf: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthError> {
        if !csrf.is_some_and(|csrf| portal_link::csrf_matches(token, csrf)) {
            return Err(AuthError::CsrfRefused);
        }
        self.tenant_admin(token, now)
            .await
            .map(|(tenant, _)| Caller::TenantAdmin(tenant.id))
    }

    async fn tenant_admin(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Tenant, i64), AuthError> {
        // A revocation of the token's chain, or of its tenant's tokens, may have been
        // made elsewhere and not read yet.
        if !self.freshness.is_current() {
            return Err(AuthError::Unavailable);
        }
        let verified = self
            .tenant_tokens
            .verify(token, now)
            .await
            .map_err(|_| AuthError::Invalid)?;
        // The tenant must exist, and have existed when the token was issued: a tenant
        // deleted and created again does not revive its predecessor's tokens.
        match tenants::get_tenant(&self.store, &TenantScope::All, &verified.tenant).await {
            Ok(tenant) if verified.issued_at >= tenant.created_at.timestamp() => {
                Ok((tenant, verified.expires_at))
            }
            Ok(_) | Err(TenantError::NotFound) => Err(AuthError::Invalid),
            Err(TenantError::Unexpected(error)) => Err(error.into()),
        }
    }
}
