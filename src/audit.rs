//! Audit events: who changed what, when, under which request. Written by the store in
//! the transaction of the change itself; never carries a secret. Read back, newest
//! first and within the caller's scope, with [`list_events`].

use chrono::{DateTime, Utc};

use crate::auth::Caller;
use crate::ids::TenantScope;
use crate::store::Store;
use crate::ids::TenantId;

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
/// changes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
}

impl AuditContext {
    pub fn new(caller: &Caller, request_id: Option<String>) -> Self {
        Self {
            actor: caller.actor(),
            request_id,
        }
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

/// At most `limit` events in `scope`, newest first, older than the event `before` when
/// given.
#[tracing::instrument(skip_all)]
pub async fn list_events(
    store: &Store,
    scope: &TenantScope,
    before: Option<i64>,
    limit: u32,
) -> anyhow::Result<Vec<AuditEvent>> {
    store.audit_events(scope, before, limit).await
}
