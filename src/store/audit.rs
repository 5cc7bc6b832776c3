//! Audit event rows: written inside the transaction of each change, read newest first.
//!
//! The vocabulary of a row lives here because the writes that record it do: each store
//! write knows which [`Action`] it performs, and some learn their subject or tenant only
//! inside the transaction (a new secret's id, a deleted client's tenant). What an event
//! means to a caller (its typed form, who may list it) is [`crate::audit`]'s.

use super::{on_pool, Store};
use crate::ids::{TenantId, TenantScope};

/// What was done. The text (`oauth_client.created`, …) is what is stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    ClientSecretAdded,
    ClientSecretDeleted,
    SigningKeyCreated,
    SigningKeyImported,
    SigningKeyRevoked,
    SigningKeyDeleted,
    TenantTokenIssued,
    TenantTokenRevoked,
    TenantTokensRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TenantCreated => "tenant.created",
            Action::TenantUpdated => "tenant.updated",
            Action::TenantDeleted => "tenant.deleted",
            Action::ClientCreated => "oauth_client.created",
            Action::ClientUpdated => "oauth_client.updated",
            Action::ClientDeleted => "oauth_client.deleted",
            Action::ClientSecretAdded => "oauth_client.secret_added",
            Action::ClientSecretDeleted => "oauth_client.secret_deleted",
            Action::SigningKeyCreated => "signing_key.created",
            Action::SigningKeyImported => "signing_key.imported",
            Action::SigningKeyRevoked => "signing_key.revoked",
            Action::SigningKeyDeleted => "signing_key.deleted",
            Action::TenantTokenIssued => "tenant_token.issued",
            Action::TenantTokenRevoked => "tenant_token.revoked",
            Action::TenantTokensRevoked => "tenant_tokens.revoked",
        }
    }
}

/// Who is making a change and under which request: handed to every store call that
/// changes something, recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// A change made by `actor` (as the caller names itself, e.g. `admin`) under the
    /// request `request_id`.
    pub fn new(actor: String, request_id: Option<String>) -> Self {
        Self { actor, request_id }
    }

    /// Changes Tessera makes on its own schedule (key rotation, expiry).
    pub fn system() -> Self {
        Self {
            actor: "system".to_owned(),
            request_id: None,
        }
    }

    /// Changes made with the `tessera` command.
    pub fn cli() -> Self {
        Self {
            actor: "cli".to_owned(),
            request_id: None,
        }
    }
}

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

/// One stored audit event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
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
    /// Events in `scope`, newest first, older than the event `before` when given.
    #[tracing::instrument(skip_all)]
    pub async fn audit_events(
        &self,
        scope: &TenantScope,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditRecord>> {
        let tenant = scope.tenant().map(TenantId::as_str);
        Ok(on_pool!(self, pool => {
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
        })?)
    }
}
