//! Portal links (seed 000): a URL of Tessera's `/portal` carrying an opaque token (256
//! random bits, only its SHA-256 stored) that opens once, within
//! `admin.portal_link_seconds` (at most 60 s) of being issued.
//!
//! Opening it starts a portal session, which is a tenant admin token: of a new chain
//! for a link the global admin asked for, of the asker's own chain for a link asked for
//! with a tenant admin token (so the link neither outlives nor escapes that chain). The
//! browser keeps it in an `HttpOnly` cookie (`http::portal`). A portal session is
//! therefore revoked, renewed and bounded exactly as tenant admin tokens are; revoking
//! a tenant's tokens or a chain also deletes the links not yet opened.
//!
//! Taking the link deletes its row, so of any number of concurrent openers, on any
//! process, one gets the session; the issuance of the token it carries is an audit
//! event written in that same transaction.

use chrono::{DateTime, Utc};

use super::tenant_admin::{expiry_in_chain, issue, IssueError, TenantTokenService, TokenChain};
use super::OpaqueToken;
use crate::audit::{Action, AuditContext};
use crate::ids::TenantId;
use crate::store::{PortalLinkRecord, Store};

/// A portal link in clear: shown once, to whoever asked for it. `Debug` never shows it.
pub struct PortalLink(String);

impl PortalLink {
    pub fn url(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PortalLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalLink(..)")
    }
}

/// What opening a link starts: a tenant admin token for the portal's cookie.
#[derive(Debug)]
pub struct PortalSession {
    pub tenant: TenantId,
    pub token: String,
    /// Unix seconds: the token's `exp`.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not a portal link token")]
    Malformed,
    /// Used already, expired, revoked, of a deleted tenant or of an ended chain: one
    /// answer for all.
    #[error("the portal link cannot be used")]
    Unusable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl TenantTokenService {
    /// A link into a new chain of `tenant`, for the global admin.
    pub async fn portal_link(
        &self,
        tenant: &TenantId,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<PortalLink, IssueError> {
        self.link_in(tenant, &TokenChain::start(now), audit, now)
            .await
    }

    /// A link into the chain of the valid tenant admin token `token`.
    pub async fn portal_link_in_own_chain(
        &self,
        token: &str,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<(TenantId, PortalLink), IssueError> {
        let verified = self.verify(token, now).await?;
        let link = self
            .link_in(&verified.tenant, &verified.chain, audit, now)
            .await?;
        Ok((verified.tenant, link))
    }

    async fn link_in(
        &self,
        tenant: &TenantId,
        chain: &TokenChain,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<PortalLink, IssueError> {
        let token = OpaqueToken::generate();
        let record = PortalLinkRecord {
            token_hash: token.hash().as_str().to_owned(),
            tenant_id: tenant.as_str().to_owned(),
            chain_id: chain.id.clone(),
            auth_time: chain.auth_time * 1000,
            created_at: now.timestamp_millis(),
            expires_at: (now + self.portal_link_lifetime).timestamp_millis(),
        };
        let event = audit.record(Action::PortalLinkIssued, &chain.id, Some(tenant));
        if !self.store.insert_portal_link(&record, &event).await? {
            return Err(IssueError::TenantMissing(tenant.clone()));
        }
        Ok(PortalLink(format!(
            "{}/portal?token={}",
            self.issuer.trim_end_matches('/'),
            token.expose()
        )))
    }

    /// Opens the link whose token is `presented`: once only, before it expires.
    pub async fn open_portal_link(
        &self,
        presented: &str,
        request_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<PortalSession, OpenError> {
        if !OpaqueToken::is_well_formed(presented) {
            return Err(OpenError::Malformed);
        }
        let hash = OpaqueToken::presented(presented).hash();
        let mut tx = self.store.begin_write().await?;
        let Some(link) =
            Store::take_portal_link(&mut tx, hash.as_str(), now.timestamp_millis()).await?
        else {
            tx.commit().await?;
            return Err(OpenError::Unusable);
        };
        let tenant = TenantId::parse(&link.tenant_id)
            .map_err(|error| anyhow::anyhow!("a stored tenant id is invalid: {error}"))?;
        let chain = TokenChain {
            id: link.chain_id,
            auth_time: link.auth_time / 1000,
        };
        let Some(expires_at) = expiry_in_chain(&chain, self.lifetime, self.max_lifetime, now)
        else {
            // The asker's chain ended since: the link is spent, and starts nothing.
            tx.commit().await?;
            return Err(OpenError::Unusable);
        };
        let token = issue(
            &self.keys,
            &self.issuer,
            &tenant,
            &chain,
            self.lifetime,
            self.max_lifetime,
            now,
        )
        .map_err(|error| match error {
            IssueError::Unexpected(error) => OpenError::Unexpected(error),
            _ => OpenError::Unusable,
        })?;
        // The holder of the link acts as the tenant's admin from here on.
        let audit = AuditContext::new(format!("tenant-admin:{tenant}"), request_id);
        let event = audit.record(Action::TenantTokenIssued, &chain.id, Some(&tenant));
        Store::record_audit(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(PortalSession {
            tenant,
            token,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_never_shows_in_debug_output() {
        let link = PortalLink("https://tessera.test/portal?token=secret-part".into());
        assert_eq!(format!("{link:?}"), "PortalLink(..)");
        assert!(link.url().ends_with("secret-part"));
    }
}
