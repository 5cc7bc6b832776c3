//! Tenant rows.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::audit::record_audit;
use super::audit::{Action, AuditContext};
use super::{from_millis, on_pool, to_millis, BeginWrite, Store};
use crate::patch::Patch;
use crate::tenants::{Tenant, TenantChanges, TenantId};

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: Option<String>,
    metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = anyhow::Error;

    fn try_from(row: TenantRow) -> anyhow::Result<Self> {
        Ok(Tenant {
            id: TenantId::parse(&row.id).map_err(anyhow::Error::msg)?,
            name: row.name,
            metadata: serde_json::from_str(&row.metadata).context("corrupt tenant metadata")?,
            created_at: from_millis(row.created_at),
            updated_at: from_millis(row.updated_at),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
}

macro_rules! columns {
    () => {
        "id, name, metadata, created_at, updated_at"
    };
}

impl Store {
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn upsert_tenant(
        &self,
        id: &TenantId,
        changes: &TenantChanges,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Tenant, UpsertOutcome)> {
        let name = changes.name.value();
        // `null` metadata clears it to the empty map.
        let metadata = match &changes.metadata {
            Patch::Absent => None,
            Patch::Null => Some("{}".to_owned()),
            Patch::Value(metadata) => Some(serde_json::to_string(metadata)?),
        };
        let now = to_millis(now);
        // Insert-or-nothing, then update: two statements that stay correct when
        // requests for the same id race, and tell a creation from an update.
        let outcome: Option<(TenantRow, UpsertOutcome)> = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut outcome = None;
            for _ in 0..3 {
                let inserted: Option<TenantRow> = sqlx::query_as(concat!(
                    "INSERT INTO tenants (id, name, metadata, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING RETURNING ", columns!(), ""
                ))
                .bind(id.as_str())
                .bind(name)
                .bind(metadata.as_deref().unwrap_or("{}"))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = inserted {
                    outcome = Some((row, UpsertOutcome::Created));
                    break;
                }
                let updated: Option<TenantRow> = sqlx::query_as(concat!(
                    "UPDATE tenants SET \
                       name = CASE WHEN $2 THEN $3 ELSE name END, \
                       metadata = CASE WHEN $4 THEN $5 ELSE metadata END, \
                       updated_at = $6 \
                     WHERE id = $1 RETURNING ", columns!(), ""
                ))
                .bind(id.as_str())
                .bind(changes.name.is_sent())
                .bind(name)
                .bind(metadata.is_some())
                .bind(metadata.as_deref().unwrap_or("{}"))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = updated {
                    outcome = Some((row, UpsertOutcome::Updated));
                    break;
                }
            }
            if let Some((_, created_or_updated)) = &outcome {
                let action = match created_or_updated {
                    UpsertOutcome::Created => Action::TenantCreated,
                    UpsertOutcome::Updated => Action::TenantUpdated,
                };
                record_audit!(tx, audit, action, id.as_str(), Some(id.as_str()), now)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(outcome)
        })?;
        match outcome {
            Some((row, outcome)) => Ok((row.try_into()?, outcome)),
            None => anyhow::bail!("tenant {id} kept disappearing during an upsert"),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn tenant(&self, id: &TenantId) -> anyhow::Result<Option<Tenant>> {
        let row: Option<TenantRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenants WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })?;
        row.map(Tenant::try_from).transpose()
    }

    /// Deletes the tenant and, through foreign keys, everything that belongs to it.
    /// Returns whether it existed.
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn delete_tenant(
        &self,
        id: &TenantId,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = to_millis(now);
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if deleted {
                record_audit!(tx, audit, Action::TenantDeleted, id.as_str(), Some(id.as_str()), now)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(deleted)
        })?;
        Ok(deleted)
    }
}
