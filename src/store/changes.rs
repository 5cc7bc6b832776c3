//! The change feed's rows (see [`crate::changes`]) and the revocation lists it
//! announces: revoked access tokens and revoked tenant admin tokens.
//!
//! Every write that other processes must learn of inserts its [`Change`] row with
//! [`record_change!`] inside its own transaction, as its last statement before the
//! commit (on PostgreSQL the insert takes the feed lock, held until the commit).
//! Client and secret changes are recorded by triggers instead (migration 0005).

use super::audit::record_audit;
use super::{on_pool, BeginWrite, Store};
use crate::audit::{Action, AuditContext};
use crate::changes::Change;
use crate::tenants::TenantId;

/// Records `change` inside the open transaction `$tx`:
/// `record_change!(tx, change, now_millis)`.
macro_rules! record_change {
    ($tx:expr, $change:expr, $now:expr) => {{
        let row = $change.to_row();
        sqlx::query(
            "INSERT INTO changes (kind, subject, instant, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(row.kind)
        .bind(row.subject)
        .bind(row.instant)
        .bind($now)
        .execute(&mut *$tx)
        .await
    }};
}
pub(crate) use record_change;

/// One row of the feed as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChangeRecord {
    pub seq: i64,
    pub kind: String,
    pub subject: String,
    pub instant: Option<i64>,
}

/// The oldest and newest sequence numbers the feed still holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedBounds {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// What the stored revocations of tenant admin tokens say at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTokenRevocationRows {
    /// `(chain_id, expires_at_millis)`.
    pub chains: Vec<(String, i64)>,
    /// `(tenant_id, not_before_millis)`.
    pub cutoffs: Vec<(String, i64)>,
}

impl Store {
    /// Up to `limit` changes after `last_seen`, in sequence order.
    pub async fn changes_after(
        &self,
        last_seen: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<ChangeRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, kind, subject, instant FROM changes WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(last_seen)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn change_feed_bounds(&self) -> anyhow::Result<FeedBounds> {
        let (oldest, newest): (Option<i64>, Option<i64>) = on_pool!(self, pool => {
            sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM changes").fetch_one(pool).await
        })?;
        Ok(FeedBounds { oldest, newest })
    }

    /// Deletes changes recorded before `before_millis`, but always keeps the newest, so a
    /// process that fell behind can tell that rows it never read are gone.
    pub async fn purge_changes(&self, before_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM changes WHERE recorded_at < $1 \
                 AND seq < (SELECT MAX(seq) FROM changes)",
            )
            .bind(before_millis)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Denies the token `jti` until `expires_millis`. Revoking twice is harmless.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_millis: i64,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        let change = Change::RevokedToken {
            jti: jti.to_owned(),
            expires_at_millis: expires_millis,
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(client_id)
            .bind(expires_millis)
            .bind(now_millis)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted {
                record_change!(tx, change, now_millis)?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// `(jti, expires_at)` of the revoked tokens not yet expired at `now_millis`.
    pub async fn revoked_tokens(&self, now_millis: i64) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
                .bind(now_millis)
                .fetch_all(pool)
                .await
        })?)
    }

    pub async fn purge_revoked_tokens(&self, now_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                .bind(now_millis)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Records that a tenant admin token chain was started (a token issued by the
    /// global admin) or renewed.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn record_tenant_token_issued(
        &self,
        tenant: &TenantId,
        chain_id: &str,
        audit: &AuditContext,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            record_audit!(tx, audit, Action::TenantTokenIssued, chain_id, Some(tenant.as_str()), now_millis)?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Revokes one chain of tenant admin tokens until `expires_millis`, when none of it
    /// could be valid anyway.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_tenant_token_chain(
        &self,
        tenant: &TenantId,
        chain_id: &str,
        expires_millis: i64,
        audit: &AuditContext,
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
            record_audit!(tx, audit, Action::TenantTokenRevoked, chain_id, Some(tenant.as_str()), now_millis)?;
            record_change!(tx, change, now_millis)?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Voids every tenant admin token of `tenant` issued before `not_before_millis`;
    /// the cut-off is kept until `expires_millis`. Returns whether the tenant exists.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_tenant_tokens(
        &self,
        tenant: &TenantId,
        not_before_millis: i64,
        expires_millis: i64,
        audit: &AuditContext,
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
                record_audit!(tx, audit, Action::TenantTokensRevoked, tenant.as_str(), Some(tenant.as_str()), now_millis)?;
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
