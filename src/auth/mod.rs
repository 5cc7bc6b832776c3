//! Who is calling: the one place a bearer credential becomes a [`Caller`].
//!
//! [`Authenticator::authenticate`] accepts the admin API key (the global admin) or a
//! tenant admin token (an admin of one tenant, which must still exist and have existed
//! when the token was issued); next it will accept a user's access token. The API's
//! extractor and the portal ([`Authenticator::portal_session`], a tenant admin token
//! from the portal cookie) both ask it; nothing else decides who is calling.

pub mod admin_key;
mod caller;

use chrono::{DateTime, Utc};

pub use caller::{Caller, Forbidden, TenantScope};

use crate::store::Store;
use crate::tenants::{self, Tenant, TenantError};
use crate::tokens::tenant_admin::TenantTokenService;
use admin_key::AdminKeyVerifier;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a credential this server honours (wrong, expired, revoked, of a deleted
    /// tenant): one answer for all.
    #[error("the credential is not valid")]
    Invalid,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct Authenticator {
    admin_key: AdminKeyVerifier,
    tenant_tokens: TenantTokenService,
    store: Store,
}

impl Authenticator {
    pub fn new(
        admin_key: AdminKeyVerifier,
        tenant_tokens: TenantTokenService,
        store: Store,
    ) -> Self {
        Authenticator {
            admin_key,
            tenant_tokens,
            store,
        }
    }

    /// The tenant admin token service (issuing, renewing, revoking).
    pub fn tenant_tokens(&self) -> &TenantTokenService {
        &self.tenant_tokens
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

    async fn tenant_admin(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Tenant, i64), AuthError> {
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
