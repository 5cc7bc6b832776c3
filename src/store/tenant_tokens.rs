//! Tenant admin token rows: revoked chains, per-tenant cut-offs and single revoked
//! tokens (an ended portal session), each written with its audit event and its change on
//! the feed in one transaction (which also deletes the unopened portal links they void);
//! and the audit event of each issuance.

use super::audit::{insert_audit_record, AuditRecord};
use super::changes::record_change;
use super::{on_pool, BeginWrite, Change, Store};
use crate::ids::TenantId;

/// What the stored revocations of tenant admin tokens say at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTokenRevocationRows {
    /// `(chain_id, expires_at_millis)`.
    pub chains: Vec<(String, i64)>,
    /// `(tenant_id, not_before_millis)`.
    pub cutoffs: Vec<(String, i64)>,
}

impl Store {
    /// Records that a tenant admin token chain was started (a token issued by the
    /// global admin) or renewed: `audit` names the chain.
    #[tracing::instrument(skip_all)]
    pub async fn record_tenant_token_issued(
        &self,
        audit: &AuditRecord,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_audit_record!(tx, audit, now_millis)?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Revokes one chain of tenant admin tokens until `expires_millis`, when none of it
    /// could be valid anyway, and deletes the chain's unopened portal links.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_tenant_token_chain(
        &self,
        tenant: &TenantId,
        chain_id: &str,
        expires_millis: i64,
        audit: &AuditRecord,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        let change = Change::TenantTokenChainRevoked {
            chain_id: chain_id.to_owned(),
            expires_at_millis: expires_millis,
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO revoked_tenant_token_chains (chain_id, tenant_id, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (chain_id) DO NOTHING",
            )
            .bind(chain_id)
            .bind(tenant.as_str())
            .bind(expires_millis)
            .bind(now_millis)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM portal_links WHERE chain_id = $1")
                .bind(chain_id)
                .execute(&mut *tx)
                .await?;
            insert_audit_record!(tx, audit, now_millis)?;
            record_change!(tx, change, now_millis)?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Voids every tenant admin token of `tenant` issued before `not_before_millis`, and
    /// its unopened portal links; the cut-off is kept until `expires_millis`. Returns
    /// whether the tenant exists.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_tenant_tokens(
        &self,
        tenant: &TenantId,
        not_before_millis: i64,
        expires_millis: i64,
        audit: &AuditRecord,
        now_millis: i64,
    ) -> anyhow::Result<bool> {
        let change = Change::TenantTokensRevoked {
            tenant: tenant.clone(),
            not_before_millis,
        };
        let exists = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                sqlx::query(
                    "INSERT INTO tenant_token_cutoffs (tenant_id, not_before, expires_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET \
                     not_before = excluded.not_before, expires_at = excluded.expires_at",
                )
                .bind(tenant.as_str())
                .bind(not_before_millis)
                .bind(expires_millis)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM portal_links WHERE tenant_id = $1")
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
                insert_audit_record!(tx, audit, now_millis)?;
                record_change!(tx, change, now_millis)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(exists.is_some())
        })?;
        Ok(exists)
    }

    /// The revocations of tenant admin tokens that still matter at `now_millis`.
    pub async fn tenant_token_revocations(
        &self,
        now_millis: i64,
    ) -> anyhow::Result<TenantTokenRevocationRows> {
        let (chains, cutoffs) = on_pool!(self, pool => {
            let chains = sqlx::query_as(
                "SELECT chain_id, expires_at FROM revoked_tenant_token_chains WHERE expires_at > $1",
            )
            .bind(now_millis)
            .fetch_all(pool)
            .await?;
            let cutoffs = sqlx::query_as(
                "SELECT tenant_id, not_before FROM tenant_token_cutoffs WHERE expires_at > $1",
            )
            .bind(now_millis)
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((chains, cutoffs))
        })?;
        Ok(TenantTokenRevocationRows { chains, cutoffs })
    }

    pub async fn purge_tenant_token_revocations(&self, now_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM revoked_tenant_token_chains WHERE expires_at <= $1")
                .bind(now_millis)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM tenant_token_cutoffs WHERE expires_at <= $1")
                .bind(now_millis)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }
}
