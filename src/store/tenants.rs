//! Tenant rows. Metadata is JSON text; what it holds is `crate::tenants`' business.

use chrono::{DateTime, Utc};

use super::audit::{insert_audit_record, AuditRecord};
use super::{on_pool, on_tx, to_millis, BeginWrite, Store, WriteTx};
use crate::ids::TenantId;
use crate::patch::Patch;

/// One stored tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub name: Option<String>,
    /// A JSON object of strings.
    pub metadata: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
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
    /// Creates the tenant `id` or updates it, in `tx` (whose audit event says which):
    /// `name` as the patch says, `metadata` (JSON text) when given; a new tenant gets no
    /// name and `{}` for what is not given.
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn upsert_tenant(
        tx: &mut WriteTx,
        id: &TenantId,
        name: &Patch<String>,
        metadata: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(TenantRecord, UpsertOutcome)> {
        let (name_sent, name) = (name.is_sent(), name.value());
        let now = to_millis(now);
        // Insert-or-nothing, then update: two statements that stay correct when
        // requests for the same id race, and tell a creation from an update.
        let outcome: Option<(TenantRecord, UpsertOutcome)> = on_tx!(tx, conn => {
            let mut outcome = None;
            for _ in 0..3 {
                let inserted: Option<TenantRecord> = sqlx::query_as(concat!(
                    "INSERT INTO tenants (id, name, metadata, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING RETURNING ", columns!(), ""
                ))
                .bind(id.as_str())
                .bind(name)
                .bind(metadata.unwrap_or("{}"))
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = inserted {
                    outcome = Some((row, UpsertOutcome::Created));
                    break;
                }
                let updated: Option<TenantRecord> = sqlx::query_as(concat!(
                    "UPDATE tenants SET \
                       name = CASE WHEN $2 THEN $3 ELSE name END, \
                       metadata = CASE WHEN $4 THEN $5 ELSE metadata END, \
                       updated_at = $6 \
                     WHERE id = $1 RETURNING ", columns!(), ""
                ))
                .bind(id.as_str())
                .bind(name_sent)
                .bind(name)
                .bind(metadata.is_some())
                .bind(metadata.unwrap_or("{}"))
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = updated {
                    outcome = Some((row, UpsertOutcome::Updated));
                    break;
                }
            }
            Ok::<_, sqlx::Error>(outcome)
        })?;
        match outcome {
            Some(upserted) => Ok(upserted),
            None => anyhow::bail!("tenant {id} kept disappearing during an upsert"),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn tenant(&self, id: &TenantId) -> anyhow::Result<Option<TenantRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenants WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Deletes the tenant and, through foreign keys, everything that belongs to it.
    /// Returns whether it existed.
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn delete_tenant(
        &self,
        id: &TenantId,
        audit: &AuditRecord,
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
                insert_audit_record!(tx, audit, now)?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(deleted)
        })?;
        Ok(deleted)
    }
}
