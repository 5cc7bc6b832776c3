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
//!
//! The portal page calls the API with the cookie, which the browser would attach to a
//! forged request too; the page proves it is the page with the session's CSRF token
//! ([`csrf_token`]), which only a reader of the page (this origin) learns. Signing out
//! ([`TenantTokenService::end_portal_session`]) denies the session's one token: not its
//! chain, which may be the application's own.

use chrono::{DateTime, Utc};

use ring::digest::{Context, SHA256};

use super::tenant_admin::{expiry_in_chain, issue, IssueError, TenantTokenService, TokenChain};
use super::{OpaqueToken, SELF_CLIENT_ID};
use crate::audit::{Action, AuditContext};
use crate::changes::Change;
use crate::ids::TenantId;
use crate::store::{PortalLinkRecord, Store};

/// Keeps the CSRF token's digest apart from any other SHA-256 of the session token.
const CSRF_LABEL: &[u8] = b"tessera portal csrf\0";

fn csrf_digest(session_token: &str) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(CSRF_LABEL);
    context.update(session_token.as_bytes());
    context
        .finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The CSRF token of the portal session `session_token` (the cookie's value):
/// hex(SHA-256("tessera portal csrf\0" ‖ token)). It needs no storage, and tells
/// nothing of the token it is derived from.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(csrf_digest(session_token))
}

/// Whether `presented` is the CSRF token of `session_token`, compared in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let Ok(presented) = hex::decode(presented) else {
        return false;
    };
    super::constant_time_eq(&presented, &csrf_digest(session_token))
}

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
pub struct PortalSession {
    pub tenant: TenantId,
    pub token: String,
    /// Unix seconds: the token's `exp`.
    pub expires_at: i64,
}

/// Without the token: a `Debug` print must never carry a credential.
impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("tenant", &self.tenant)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not a portal link token")]
    Malformed,
    /// Used already, expired, revoked, of a deleted tenant or of an ended chain: one
    /// answer for all.
    #[error("the portal link cannot be used")]
    Unusable,
    /// See [`IssueError::Unavailable`]; the link is not spent.
    #[error("the server's state cannot be confirmed current")]
    Unavailable,
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
        self.require_current()?;
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

    /// The tenant of the link whose token is `presented`, if it can still be opened
    /// (nothing spent).
    pub async fn portal_link_waiting(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantId>, OpenError> {
        if !OpaqueToken::is_well_formed(presented) {
            return Err(OpenError::Malformed);
        }
        if self.require_current().is_err() {
            return Err(OpenError::Unavailable);
        }
        let hash = OpaqueToken::presented(presented).hash();
        let tenant = self
            .store
            .portal_link_waiting(hash.as_str(), now.timestamp_millis())
            .await?;
        tenant
            .map(|tenant| {
                TenantId::parse(&tenant)
                    .map_err(|error| anyhow::anyhow!("a stored tenant id is invalid: {error}"))
            })
            .transpose()
            .map_err(OpenError::from)
    }

    /// What the cookie set with a link's page holds, binding the browser that fetched the
    /// page to the link: its press must come with it. (Not the token itself: the cookie
    /// jar is no place for a credential.)
    pub fn opener_binding(presented: &str) -> String {
        use base64::Engine;
        let digest = ring::digest::digest(
            &SHA256,
            format!("tessera portal opener\0{presented}").as_bytes(),
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
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
        // Before the link is spent: it still opens once the feed is read again.
        if self.require_current().is_err() {
            return Err(OpenError::Unavailable);
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

impl TenantTokenService {
    /// Ends the portal session whose cookie holds `token`: that token is denied until it
    /// expires (an audit event names its chain). Its chain goes on: a link asked for with
    /// a tenant admin token continues the asker's chain, which must outlive the portal.
    /// Returns the change to apply here, or `None` when the token was no longer honoured
    /// (nothing to end).
    pub async fn end_portal_session(
        &self,
        token: &str,
        request_id: Option<String>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Change>> {
        let Ok(verified) = self.verify(token, now).await else {
            return Ok(None);
        };
        let expires_at_millis = verified.expires_at * 1000;
        let audit = AuditContext::new(format!("tenant-admin:{}", verified.tenant), request_id);
        let event = audit.record(
            Action::PortalSessionEnded,
            &verified.chain.id,
            Some(&verified.tenant),
        );
        self.store
            .revoke_token(
                &verified.jti,
                SELF_CLIENT_ID,
                expires_at_millis,
                Some(&event),
                now.timestamp_millis(),
            )
            .await?;
        Ok(Some(Change::RevokedToken {
            jti: verified.jti,
            expires_at_millis,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        let token = csrf_token("session-a");
        assert_eq!(token.len(), 64);
        assert!(csrf_matches("session-a", &token));
        assert!(csrf_matches("session-a", &token.to_ascii_uppercase()));
        assert!(!csrf_matches("session-b", &token));
        assert!(!csrf_matches("session-a", ""));
        assert!(!csrf_matches("session-a", &token[..62]));
        assert!(!csrf_matches("session-a", "not hex at all"));
        // The label keeps it apart from a plain digest of the token.
        assert_ne!(
            token,
            hex::encode(ring::digest::digest(&SHA256, b"session-a").as_ref())
        );
    }

    #[test]
    fn a_link_never_shows_in_debug_output() {
        let link = PortalLink("https://tessera.test/portal?token=secret-part".into());
        assert_eq!(format!("{link:?}"), "PortalLink(..)");
        assert!(link.url().ends_with("secret-part"));
    }
}
