//! Audit event rows: written inside the transaction of each change, read newest first.
//! An event is built by `crate::audit` as a plain [`AuditRecord`]; the store writes it
//! with the change ([`insert_audit_record!`] inside a store function, or
//! [`Store::record_audit`] in a [`WriteTx`] a service composes, where only the write
//! tells what the event is: a new secret's id, a deleted client's tenant, whether an
//! upsert created).

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, to_millis, Store, WriteTx};
use crate::ids::{TenantId, TenantScope};

pub(super) const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events \
       (occurred_at, actor, action, target_id, tenant_id, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// An audit event as the store writes it, in plain values: built by [`crate::audit`],
/// written in the transaction of the change it records with [`insert_audit_record!`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub actor: String,
    pub request_id: Option<String>,
    /// What was done, as stored and shown (`user.created`, …).
    pub action: &'static str,
    /// The id of what changed.
    pub target_id: String,
    /// The tenant the change belongs to, if any: its admins see the event.
    pub tenant_id: Option<String>,
}

/// Writes `$record` (an [`AuditRecord`]) inside the open transaction `$tx`:
/// `insert_audit_record!(conn, record, now_millis)`.
macro_rules! insert_audit_record {
    ($tx:expr, $record:expr, $now:expr) => {
        sqlx::query($crate::store::audit::INSERT_AUDIT_EVENT)
            .bind($now)
            .bind(&$record.actor)
            .bind($record.action)
            .bind(&$record.target_id)
            .bind($record.tenant_id.as_deref())
            .bind($record.request_id.as_deref())
            .execute(&mut *$tx)
            .await
    };
}
pub(crate) use insert_audit_record;

/// One stored audit event, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    /// Unix milliseconds.
    pub occurred_at: i64,
    pub actor: String,
    pub action: String,
    pub target_id: String,
    pub tenant_id: Option<String>,
    pub request_id: Option<String>,
}

impl Store {
    /// Writes `record` in `tx`, the transaction of the change it records.
    pub async fn record_audit(
        tx: &mut WriteTx,
        record: &AuditRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = to_millis(now);
        on_tx!(tx, conn => insert_audit_record!(conn, record, now).map(drop))?;
        Ok(())
    }

    /// Events in `scope`, of `action` when given, that occurred within `[since, until)`
    /// (Unix milliseconds, each bound optional), newest first, older than the event
    /// `before` when given.
    #[tracing::instrument(skip_all)]
    pub async fn audit_events(
        &self,
        scope: &TenantScope,
        action: Option<&str>,
        (since, until): (Option<i64>, Option<i64>),
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditRow>> {
        let tenant = scope.tenant().map(TenantId::as_str);
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, occurred_at, actor, action, target_id, tenant_id, request_id \
                 FROM audit_events \
                 WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR id < $2) \
                   AND ($4 IS NULL OR action = $4) \
                   AND ($5 IS NULL OR occurred_at >= $5) AND ($6 IS NULL OR occurred_at < $6) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(before)
            .bind(i64::from(limit))
            .bind(action)
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await
        })?)
    }
}
