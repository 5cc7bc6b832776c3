//! The idle token timeout of each tenant (seed 003), in plain values: whether it is on,
//! its length in seconds, and since when it is on (Unix milliseconds). Setting it writes
//! its audit event and an [`Change::IdleTimeout`] in the same transaction.

use super::audit::insert_audit_record;
use super::changes::record_change;
use super::{on_pool, on_tx, AuditRecord, Change, Store, WriteTx};
use crate::ids::TenantId;

/// An `idle_timeouts` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdleTimeoutRecord {
    pub tenant_id: String,
    pub enabled: bool,
    pub timeout_seconds: i64,
    pub since: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT tenant_id, enabled, timeout_seconds, since, updated_at \
     FROM idle_timeouts WHERE tenant_id = $1";

impl Store {
    /// The idle timeout row of `tenant`, if one was ever set.
    pub async fn idle_timeout(&self, tenant: &str) -> anyhow::Result<Option<IdleTimeoutRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(SELECT).bind(tenant).fetch_optional(pool).await
        })?)
    }

    /// The same, read in `tx`.
    pub async fn idle_timeout_in(
        tx: &mut WriteTx,
        tenant: &str,
    ) -> anyhow::Result<Option<IdleTimeoutRecord>> {
        Ok(on_tx!(tx, conn => {
            sqlx::query_as(SELECT).bind(tenant).fetch_optional(conn).await
        })?)
    }

    /// Stores `record` (inserted or replaced), its audit event and the change, then
    /// commits `tx`.
    pub async fn put_idle_timeout(
        mut tx: WriteTx,
        record: &IdleTimeoutRecord,
        audit: &AuditRecord,
    ) -> anyhow::Result<()> {
        let tenant = TenantId::parse(&record.tenant_id).map_err(anyhow::Error::msg)?;
        let now = record.updated_at;
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO idle_timeouts (tenant_id, enabled, timeout_seconds, since, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET \
                   enabled = excluded.enabled, timeout_seconds = excluded.timeout_seconds, \
                   since = excluded.since, updated_at = excluded.updated_at",
            )
            .bind(&record.tenant_id)
            .bind(record.enabled)
            .bind(record.timeout_seconds)
            .bind(record.since)
            .bind(record.updated_at)
            .execute(&mut *conn)
            .await?;
            insert_audit_record!(conn, audit, now)?;
            record_change!(conn, Change::IdleTimeout(tenant), now).map(drop)
        })?;
        tx.commit().await
    }
}
