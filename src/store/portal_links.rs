//! Portal link rows (migration 0012) in plain values: the SHA-256 of the link's token,
//! the tenant and tenant admin token chain it opens a session in, Unix milliseconds.
//! A link is issued with its audit event in one transaction; it is taken (deleted, so
//! once only, whichever process asks) as a step of the caller's [`WriteTx`], which then
//! records the session it starts.

use super::audit::{insert_audit_record, AuditRecord};
use super::{on_pool, on_tx, BeginWrite, Store, WriteTx};

/// A `portal_links` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PortalLinkRecord {
    pub token_hash: String,
    pub tenant_id: String,
    pub chain_id: String,
    /// When the chain started (Unix milliseconds).
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Stores a new link with its audit event, and purges the links that expired by
    /// then, in one transaction. `false` (nothing stored) if its tenant does not exist.
    #[tracing::instrument(skip_all, fields(tenant_id = %link.tenant_id))]
    pub async fn insert_portal_link(
        &self,
        link: &PortalLinkRecord,
        audit: &AuditRecord,
    ) -> anyhow::Result<bool> {
        let now = link.created_at;
        let stored = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM portal_links WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO portal_links \
                   (token_hash, tenant_id, chain_id, auth_time, created_at, expires_at) \
                 SELECT $1, id, $3, $4, $5, $6 FROM tenants WHERE id = $2",
            )
            .bind(&link.token_hash)
            .bind(&link.tenant_id)
            .bind(&link.chain_id)
            .bind(link.auth_time)
            .bind(link.created_at)
            .bind(link.expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                insert_audit_record!(tx, audit, now)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(inserted == 1)
        })?;
        Ok(stored)
    }

    /// The tenant of the link with this hash, if it is there and unexpired at
    /// `now_millis` (it may be taken by the time it is opened: only
    /// [`Store::take_portal_link`] decides).
    pub async fn portal_link_waiting(
        &self,
        token_hash: &str,
        now_millis: i64,
    ) -> anyhow::Result<Option<String>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT tenant_id FROM portal_links WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now_millis)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Takes the link with this hash if it is unexpired at `now_millis`: the row is
    /// deleted in `tx`, so of concurrent takers (on any process) one gets it.
    #[tracing::instrument(skip_all)]
    pub async fn take_portal_link(
        tx: &mut WriteTx,
        token_hash: &str,
        now_millis: i64,
    ) -> anyhow::Result<Option<PortalLinkRecord>> {
        let taken = on_tx!(tx, conn => {
            sqlx::query_as(
                "DELETE FROM portal_links WHERE token_hash = $1 AND expires_at > $2 \
                 RETURNING token_hash, tenant_id, chain_id, auth_time, created_at, expires_at",
            )
            .bind(token_hash)
            .bind(now_millis)
            .fetch_optional(conn)
            .await
        })?;
        Ok(taken)
    }
}
