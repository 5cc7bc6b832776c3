//! Audit events: who changed what, when, under which request. Each one is built here
//! ([`AuditContext::record`]) as the store's plain [`AuditRecord`] and written by the
//! store in the transaction of the change itself; never carries a secret. Read back,
//! newest first and within the caller's scope, with [`list_events`].

use chrono::{DateTime, Utc};

use crate::ids::{TenantId, TenantScope};
use crate::store::{from_millis, AuditRecord, AuditRow, Store};

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
    PortalLinkIssued,
    PortalSessionEnded,
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserPasswordChanged,
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
    UserSessionsRevoked,
    IdleTimeoutSet,
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
            Action::PortalLinkIssued => "portal_link.issued",
            Action::PortalSessionEnded => "portal_session.ended",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::UserDeleted => "user.deleted",
            Action::UserPasswordChanged => "user.password_changed",
            Action::MemberAdded => "tenant_member.added",
            Action::MemberUpdated => "tenant_member.updated",
            Action::MemberRemoved => "tenant_member.removed",
            Action::UserSessionsRevoked => "user.sessions_revoked",
            Action::IdleTimeoutSet => "tenant.idle_timeout_set",
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
    /// A change made by `actor` (how the caller is named in the trail: `admin`,
    /// `tenant-admin:<tenantId>`, see `auth::Caller::actor`) under `request_id`.
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

    /// The event of `action` on `target_id` (in `tenant`, whose admins then see it), as
    /// the store writes it.
    pub fn record(
        &self,
        action: Action,
        target_id: &str,
        tenant: Option<&TenantId>,
    ) -> AuditRecord {
        AuditRecord {
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            action: action.as_str(),
            target_id: target_id.to_owned(),
            tenant_id: tenant.map(|tenant| tenant.as_str().to_owned()),
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
