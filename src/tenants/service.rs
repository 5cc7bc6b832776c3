//! What the API does with tenants: the idempotent upsert (validated before anything
//! is stored), reads within the caller's scope, and deletion (which takes the
//! tenant's clients and secrets with it, through foreign keys).

use chrono::{DateTime, Utc};

use super::{Tenant, TenantChanges, TenantId};
use crate::audit::{Action, AuditContext};
use crate::ids::TenantScope;
use crate::store::{Store, UpsertOutcome};

#[derive(Debug, thiserror::Error)]
pub enum UpsertTenantError {
    #[error("the tenant is invalid")]
    Invalid(Vec<String>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates the tenant `id` or applies `changes` to it; says which it did.
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub async fn upsert_tenant(
    store: &Store,
    id: &TenantId,
    changes: &TenantChanges,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(Tenant, UpsertOutcome), UpsertTenantError> {
    let problems = changes.problems();
    if !problems.is_empty() {
        return Err(UpsertTenantError::Invalid(problems));
    }
    let metadata = changes.metadata_column()?;
    let mut tx = store.begin_write().await?;
    let (row, outcome) =
        Store::upsert_tenant(&mut tx, id, &changes.name, metadata.as_deref(), now).await?;
    let action = match outcome {
        UpsertOutcome::Created => Action::TenantCreated,
        UpsertOutcome::Updated => Action::TenantUpdated,
    };
    Store::record_audit(&mut tx, &audit.record(action, id.as_str(), Some(id)), now).await?;
    tx.commit().await?;
    Ok((row.try_into()?, outcome))
}

/// Why a tenant could not be read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no such tenant")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The tenant `id`, if it is in `scope`; one outside it is not looked up.
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub async fn get_tenant(
    store: &Store,
    scope: &TenantScope,
    id: &TenantId,
) -> Result<Tenant, TenantError> {
    if !scope.includes(id) {
        return Err(TenantError::NotFound);
    }
    match store.tenant(id).await? {
        Some(row) => Ok(row.try_into()?),
        None => Err(TenantError::NotFound),
    }
}

/// Deletes the tenant `id` and everything that belongs to it.
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub async fn delete_tenant(
    store: &Store,
    id: &TenantId,
    audit: &AuditContext,
    now: DateTime<Utc>,
) -> Result<(), TenantError> {
    let record = audit.record(Action::TenantDeleted, id.as_str(), Some(id));
    if store.delete_tenant(id, &record, now).await? {
        Ok(())
    } else {
        Err(TenantError::NotFound)
    }
}
