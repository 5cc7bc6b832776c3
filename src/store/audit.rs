//! Audit event rows: written inside the transaction of each change, read newest first.

use super::{from_millis, on_pool, Store};
use crate::audit::AuditEvent;
use crate::ids::TenantScope;
use crate::ids::TenantId;

/// Records one event inside the open transaction `$tx`:
/// `record_audit!(tx, context, action, target_id, tenant_id, now_millis)`.
macro_rules! record_audit {
    ($tx:expr, $context:expr, $action:expr, $target:expr, $tenant:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO audit_events \
               (occurred_at, actor, action, target_id, tenant_id, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($now)
        .bind(&$context.actor)
        .bind($action.as_str())
        .bind($target)
        .bind($tenant)
        .bind($context.request_id.as_deref())
        .execute(&mut *$tx)
        .await
    };
}
pub(crate) use record_audit;

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    occurred_at: i64,
    actor: String,
    action: String,
    target_id: String,
    tenant_id: Option<String>,
    request_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = anyhow::Error;

    fn try_from(row: AuditRow) -> anyhow::Result<Self> {
        Ok(AuditEvent {
            id: row.id,
            occurred_at: from_millis(row.occurred_at),
            actor: row.actor,
            action: row.action,
            target_id: row.target_id,
            tenant_id: row
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            request_id: row.request_id,
        })
    }
}

impl Store {
    /// Events in `scope`, newest first, older than the event `before` when given.
    #[tracing::instrument(skip_all)]
    pub async fn audit_events(
        &self,
        scope: &TenantScope,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditEvent>> {
        let tenant = scope.tenant().map(TenantId::as_str);
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, occurred_at, actor, action, target_id, tenant_id, request_id \
                 FROM audit_events \
                 WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }
}
