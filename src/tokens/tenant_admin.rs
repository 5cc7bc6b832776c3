//! Tenant admin tokens (seed 000): short-lived JWTs, signed with the active key, that
//! act as an admin of one tenant only, so browsers and scripts need not hold the global
//! admin key. They are RFC 9068 access tokens for Tessera's own API.
//!
//! They end: each token belongs to a chain (`sid`) started when the global admin asked
//! for it (`auth_time`, RFC 9068 §2.2.1); renewals copy both and never outlive
//! `auth_time` + `admin.tenant_token_max_lifetime_seconds`. A chain can be revoked
//! (by its holder), and so can every token of a tenant issued before an instant (by the
//! global admin): [`TenantTokenRevocations`] holds both in memory, kept current on
//! every process by the change feed.
//!
//! A portal session is one of these tokens, started by opening a portal link
//! ([`super::portal_link`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

use super::{
    api_audience, AccessClaims, Audience, Purpose, TokenError, TokenVerifier, ACCESS_TOKEN_TYPE,
    SELF_CLIENT_ID, TENANT_ADMIN_SCOPE,
};
use crate::audit::{Action, AuditContext};
use crate::ids::TenantId;
use crate::keys::KeyService;
use crate::store::Store;

/// The chain a tenant admin token belongs to: renewals share its id and first issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenChain {
    pub id: String,
    /// Unix seconds.
    pub auth_time: i64,
}

impl TokenChain {
    /// A new chain, started by the global admin at `now`.
    pub fn start(now: DateTime<Utc>) -> Self {
        Self {
            id: crate::ids::random_id(),
            auth_time: now.timestamp(),
        }
    }

    /// The instant (Unix seconds) after which no token of the chain may live.
    pub fn ends_at(&self, max_lifetime: Duration) -> i64 {
        self.auth_time + max_lifetime.num_seconds()
    }
}

/// How long a token issued at `now` in `chain` lives: `lifetime`, capped at the chain's
/// end; `None` once the chain has ended.
pub fn expiry_in_chain(
    chain: &TokenChain,
    lifetime: Duration,
    max_lifetime: Duration,
    now: DateTime<Utc>,
) -> Option<i64> {
    let ends_at = chain.ends_at(max_lifetime);
    (now.timestamp() < ends_at).then(|| (now + lifetime).timestamp().min(ends_at))
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the token chain reached admin.tenant_token_max_lifetime_seconds")]
    ChainEnded,
    #[error("tenant '{0}' does not exist")]
    TenantMissing(TenantId),
    #[error("not a valid tenant admin token")]
    Invalid(#[from] TenantTokenError),
    /// The change feed cannot be read: the signing key, or a revocation of the chain,
    /// may have changed elsewhere, so nothing is issued (503).
    #[error("the server's state cannot be confirmed current")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Issues, renews, verifies and revokes tenant admin tokens; every issuance and
/// revocation is an audit event, every revocation a change on the feed.
pub struct TenantTokenService {
    pub store: Store,
    pub keys: Arc<KeyService>,
    pub verifier: Arc<TokenVerifier>,
    pub issuer: String,
    /// `admin.tenant_token_seconds`.
    pub lifetime: Duration,
    /// `admin.tenant_token_max_lifetime_seconds`.
    pub max_lifetime: Duration,
    /// `admin.portal_link_seconds`: how long a portal link can be opened.
    pub portal_link_lifetime: Duration,
    /// Shared with the change feed, which keeps it current from other processes.
    pub revocations: Arc<TenantTokenRevocations>,
    /// Whether the change feed, and so the keys and revocations in memory, is current.
    pub freshness: Arc<crate::changes::Freshness>,
}

impl TenantTokenService {
    /// A token of a new chain, for the global admin.
    pub async fn issue(
        &self,
        tenant: &TenantId,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<String, IssueError> {
        self.require_current()?;
        if self.store.tenant(tenant).await?.is_none() {
            return Err(IssueError::TenantMissing(tenant.clone()));
        }
        self.issue_in(tenant, &TokenChain::start(now), audit, now)
            .await
    }

    /// A renewal of the valid tenant admin token `token`, in its chain.
    pub async fn renew(
        &self,
        token: &str,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<(TenantId, String), IssueError> {
        self.require_current()?;
        let verified = self.verify(token, now).await?;
        let renewed = self
            .issue_in(&verified.tenant, &verified.chain, audit, now)
            .await?;
        Ok((verified.tenant, renewed))
    }

    /// Nothing is issued from memory that may be stale: see [`IssueError::Unavailable`].
    pub(super) fn require_current(&self) -> Result<(), IssueError> {
        if self.freshness.is_current() {
            Ok(())
        } else {
            Err(IssueError::Unavailable)
        }
    }

    async fn issue_in(
        &self,
        tenant: &TenantId,
        chain: &TokenChain,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<String, IssueError> {
        let token = issue(
            &self.keys,
            &self.issuer,
            tenant,
            chain,
            self.lifetime,
            self.max_lifetime,
            now,
        )?;
        let record = audit.record(Action::TenantTokenIssued, &chain.id, Some(tenant));
        self.store
            .record_tenant_token_issued(&record, now.timestamp_millis())
            .await?;
        Ok(token)
    }

    pub async fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedTenantToken, TenantTokenError> {
        verify(&self.verifier, &self.revocations, token, now).await
    }

    /// Revokes the chain of the valid tenant admin token `token`: it and its renewals.
    pub async fn revoke_chain(
        &self,
        token: &str,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<(), IssueError> {
        let verified = self.verify(token, now).await?;
        let ends_at_millis = verified.chain.ends_at(self.max_lifetime) * 1000;
        let record = audit.record(
            Action::TenantTokenRevoked,
            &verified.chain.id,
            Some(&verified.tenant),
        );
        self.store
            .revoke_tenant_token_chain(
                &verified.tenant,
                &verified.chain.id,
                ends_at_millis,
                &record,
                now.timestamp_millis(),
            )
            .await?;
        self.revocations
            .revoke_chain(&verified.chain.id, ends_at_millis);
        Ok(())
    }

    /// Revokes every tenant admin token of `tenant` issued until now.
    pub async fn revoke_all(
        &self,
        tenant: &TenantId,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> Result<(), IssueError> {
        let not_before_millis = now.timestamp_millis();
        let expires_millis = (now + self.max_lifetime).timestamp_millis();
        let record = audit.record(Action::TenantTokensRevoked, tenant.as_str(), Some(tenant));
        if !self
            .store
            .revoke_tenant_tokens(
                tenant,
                not_before_millis,
                expires_millis,
                &record,
                not_before_millis,
            )
            .await?
        {
            return Err(IssueError::TenantMissing(tenant.clone()));
        }
        self.revocations.cut_off(tenant, not_before_millis);
        Ok(())
    }
}

/// A token of `chain` for `tenant`, living `lifetime` but not past the chain's end.
pub(super) fn issue(
    keys: &KeyService,
    issuer: &str,
    tenant: &TenantId,
    chain: &TokenChain,
    lifetime: Duration,
    max_lifetime: Duration,
    now: DateTime<Utc>,
) -> Result<String, IssueError> {
    let exp = expiry_in_chain(chain, lifetime, max_lifetime, now).ok_or(IssueError::ChainEnded)?;
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: format!("tenant-admin:{tenant}"),
        aud: Audience::One(api_audience(issuer)),
        exp,
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: crate::ids::random_id(),
        client_id: SELF_CLIENT_ID.to_owned(),
        scope: TENANT_ADMIN_SCOPE.to_owned(),
        tid: tenant.to_string(),
        auth_time: Some(chain.auth_time),
        sid: Some(chain.id.clone()),
        extra: Default::default(),
    };
    keys.sign(ACCESS_TOKEN_TYPE, &claims, now)
        .map_err(IssueError::Unexpected)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenantTokenError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the tenant admin token was revoked")]
    Revoked,
}

/// A valid tenant admin token: the tenant it administers, when it was issued and the
/// chain it belongs to.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedTenantToken {
    pub tenant: TenantId,
    /// Unix seconds; a token older than its tenant belongs to a deleted namesake.
    pub issued_at: i64,
    /// Unix seconds: the token's `exp`.
    pub expires_at: i64,
    /// The token's own id: what denies this one token and not its chain.
    pub jti: String,
    pub chain: TokenChain,
}

/// The tenant a valid, unrevoked tenant admin token administers (see
/// [`Purpose::TenantAdmin`]: admin rights get no clock-skew grace after `exp`). Whether
/// the tenant still exists, and existed when the token was issued, is the caller's
/// check.
pub async fn verify(
    verifier: &TokenVerifier,
    revocations: &TenantTokenRevocations,
    token: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedTenantToken, TenantTokenError> {
    let claims = verifier
        .verify(token, Purpose::TenantAdmin, now)
        .await?
        .claims;
    let tenant = TenantId::parse(&claims.tid).map_err(|_| TokenError::WrongPurpose)?;
    let chain = TokenChain {
        id: claims.sid.unwrap_or_else(|| claims.jti.clone()),
        auth_time: claims.auth_time.unwrap_or(claims.iat),
    };
    if revocations.is_revoked(&tenant, &chain.id, claims.iat) {
        return Err(TenantTokenError::Revoked);
    }
    Ok(VerifiedTenantToken {
        tenant,
        issued_at: claims.iat,
        expires_at: claims.exp,
        jti: claims.jti,
        chain,
    })
}

/// The revoked chains and the per-tenant cut-offs this process knows, each kept only
/// while a token it voids could still be unexpired.
#[derive(Default)]
pub struct TenantTokenRevocations {
    /// Chain id → when the chain ends (Unix milliseconds).
    chains: RwLock<HashMap<String, i64>>,
    /// Tenant → tokens issued before this instant (Unix milliseconds) are void.
    cutoffs: RwLock<HashMap<TenantId, i64>>,
}

impl TenantTokenRevocations {
    /// Voids the chain until `ends_at_millis`, or a later end it is voided until
    /// already (the change feed may apply two revocations in either order).
    pub fn revoke_chain(&self, chain_id: &str, ends_at_millis: i64) {
        let mut chains = self.chains.write().expect("not poisoned");
        let ends_at = chains.entry(chain_id.to_owned()).or_insert(ends_at_millis);
        *ends_at = (*ends_at).max(ends_at_millis);
    }

    /// Voids the tenant's tokens issued before `not_before_millis`; a later cut-off
    /// replaces an earlier one (it voids more).
    pub fn cut_off(&self, tenant: &TenantId, not_before_millis: i64) {
        let mut cutoffs = self.cutoffs.write().expect("not poisoned");
        let cutoff = cutoffs.entry(tenant.clone()).or_insert(not_before_millis);
        *cutoff = (*cutoff).max(not_before_millis);
    }

    /// `issued_at` is the token's `iat` (whole seconds), so a token issued within the
    /// second of a cut-off counts as issued before it: refused, whichever side it was on.
    pub fn is_revoked(&self, tenant: &TenantId, chain_id: &str, issued_at: i64) -> bool {
        if self
            .chains
            .read()
            .expect("not poisoned")
            .contains_key(chain_id)
        {
            return true;
        }
        self.cutoffs
            .read()
            .expect("not poisoned")
            .get(tenant)
            .is_some_and(|not_before| issued_at * 1000 < *not_before)
    }

    /// Forgets revoked chains that have ended and cut-offs no live token predates.
    pub fn purge(&self, now: DateTime<Utc>, max_lifetime: Duration) {
        let now = now.timestamp_millis();
        self.chains
            .write()
            .expect("not poisoned")
            .retain(|_, ends_at| *ends_at > now);
        self.cutoffs
            .write()
            .expect("not poisoned")
            .retain(|_, not_before| *not_before + max_lifetime.num_milliseconds() > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn a_chain_ends_at_its_max_lifetime_from_the_first_issuance() {
        let chain = TokenChain {
            id: "c".into(),
            auth_time: 1_000,
        };
        let (lifetime, max) = (Duration::seconds(900), Duration::seconds(2_000));
        assert_eq!(
            expiry_in_chain(&chain, lifetime, max, at(1_000)),
            Some(1_900)
        );
        // Renewed late in the chain: capped at its end, not a full lifetime.
        assert_eq!(
            expiry_in_chain(&chain, lifetime, max, at(2_500)),
            Some(3_000)
        );
        assert_eq!(
            expiry_in_chain(&chain, lifetime, max, at(2_999)),
            Some(3_000)
        );
        assert_eq!(expiry_in_chain(&chain, lifetime, max, at(3_000)), None);
        assert_eq!(expiry_in_chain(&chain, lifetime, max, at(9_000)), None);
    }

    #[test]
    fn revocations_void_chains_and_tokens_issued_before_a_cut_off() {
        let revocations = TenantTokenRevocations::default();
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        revocations.revoke_chain("chain", 50_000);
        // An earlier end arriving late changes nothing.
        revocations.revoke_chain("chain", 5_000);
        revocations.purge(
            DateTime::from_timestamp_millis(10_000).unwrap(),
            Duration::seconds(10),
        );
        assert!(revocations.is_revoked(&acme, "chain", 10));
        assert!(!revocations.is_revoked(&acme, "another", 10));

        revocations.cut_off(&acme, 20_500);
        assert!(revocations.is_revoked(&acme, "another", 19));
        // Issued within the second of the cut-off: it may have been before.
        assert!(revocations.is_revoked(&acme, "another", 20));
        assert!(!revocations.is_revoked(&acme, "another", 21));
        assert!(!revocations.is_revoked(&other, "another", 19));
        // An earlier cut-off arriving late changes nothing.
        revocations.cut_off(&acme, 1_000);
        assert!(revocations.is_revoked(&acme, "another", 20));

        revocations.purge(
            DateTime::from_timestamp_millis(50_000).unwrap(),
            Duration::seconds(10),
        );
        assert!(!revocations.is_revoked(&acme, "chain", 10));
        assert!(!revocations.is_revoked(&acme, "another", 19));
    }
}
