//! Audit events: who changed what, when, under which request. Written by the store in
//! the transaction of the change itself (the row's vocabulary, [`Action`] and
//! [`AuditContext`], is the store's, re-exported here); never carries a secret. Read
//! back, newest first and within the caller's scope, with [`list_events`].

use chrono::{DateTime, Utc};

use crate::ids::{TenantId, TenantScope};
use crate::store::{from_millis, AuditRecord, Store};

pub use crate::store::{Action, AuditContext};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    /// The id of what changed: a tenant id, a client id, or `clientId/secretId`.
    pub target_id: String,
    pub tenant_id: Option<TenantId>,
    pub request_id: Option<String>,
}

impl TryFrom<AuditRecord> for AuditEvent {
    type Error = anyhow::Error;

    fn try_from(row: AuditRecord) -> anyhow::Result<Self> {
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

/// At most `limit` events in `scope`, newest first, older than the event `before` when
/// given.
#[tracing::instrument(skip_all)]
pub async fn list_events(
    store: &Store,
    scope: &TenantScope,
    before: Option<i64>,
    limit: u32,
) -> anyhow::Result<Vec<AuditEvent>> {
    store
        .audit_events(scope, before, limit)
        .await?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
}
