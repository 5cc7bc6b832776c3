//! Client secret rows: names, display prefixes and hashes (see `clients::secrets`),
//! never secrets.

use chrono::{DateTime, Utc};

use super::audit::{insert_audit_record, AuditRecord};
use super::{on_pool, on_tx, to_millis, BeginWrite, Store, WriteTx};
use crate::ids::ClientId;

macro_rules! columns {
    () => {
        "id, name, display_prefix, secret_hash, expires_at, created_at, last_used_at"
    };
}
pub(super) use columns as secret_columns;

/// A stored secret with the id of its client.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OwnedSecretRecord {
    pub client_id: String,
    #[sqlx(flatten)]
    pub secret: SecretRecord,
}

/// One stored secret of a client. Instants are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRecord {
    pub id: i64,
    pub name: String,
    pub display_prefix: String,
    #[sqlx(rename = "secret_hash")]
    pub hash: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A secret to store; the store adds its id and `created_at`.
#[derive(Debug, Clone, Copy)]
pub struct NewSecretRecord<'a> {
    pub name: &'a str,
    pub display_prefix: &'a str,
    pub hash: &'a str,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertSecret {
    Inserted(SecretRecord),
    DuplicateName,
    TooMany(usize),
    ClientMissing,
}

impl Store {
    /// The client's secrets, oldest first.
    #[tracing::instrument(skip_all, fields(client_id = %client_id))]
    pub async fn client_secrets(&self, client_id: &ClientId) -> anyhow::Result<Vec<SecretRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM client_secrets WHERE client_id = $1 ORDER BY id"
            ))
            .bind(client_id.as_str())
            .fetch_all(pool)
            .await
        })?)
    }

    /// Adds `secret` to the client `client_id` in `tx` (whose audit event names the new
    /// secret's id), unless it has `max_secrets` already or one of the same name.
    #[tracing::instrument(skip_all, fields(client_id = %client_id))]
    pub async fn insert_secret(
        tx: &mut WriteTx,
        client_id: &ClientId,
        secret: &NewSecretRecord<'_>,
        max_secrets: usize,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InsertSecret> {
        let now = to_millis(now);
        let outcome = on_tx!(tx, conn => {
            // Lock the client's row first (PostgreSQL's READ COMMITTED would let two adds
            // both count one under the limit), so the limit holds on both databases.
            sqlx::query("UPDATE oauth_clients SET version = version WHERE id = $1")
                .bind(client_id.as_str())
                .execute(&mut *conn)
                .await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM client_secrets WHERE client_id = $1")
                .bind(client_id.as_str())
                .fetch_one(&mut *conn)
                .await?;
            if count >= i64::try_from(max_secrets).unwrap_or(i64::MAX) {
                return Ok(InsertSecret::TooMany(max_secrets));
            }
            let inserted: Result<SecretRecord, sqlx::Error> = sqlx::query_as(concat!(
                "INSERT INTO client_secrets \
                   (client_id, name, display_prefix, secret_hash, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING ", columns!(), ""
            ))
            .bind(client_id.as_str())
            .bind(secret.name)
            .bind(secret.display_prefix)
            .bind(secret.hash)
            .bind(secret.expires_at)
            .bind(now)
            .fetch_one(&mut *conn)
            .await;
            match inserted {
                Ok(row) => Ok(InsertSecret::Inserted(row)),
                Err(error) => match error.as_database_error() {
                    Some(db) if db.is_unique_violation() => Ok(InsertSecret::DuplicateName),
                    Some(db) if db.is_foreign_key_violation() => Ok(InsertSecret::ClientMissing),
                    _ => Err(error),
                },
            }
        })?;
        Ok(outcome)
    }

    /// Deletes one secret of the client `client_id`, with its audit event; returns
    /// whether it existed.
    #[tracing::instrument(skip_all, fields(client_id = %client_id, secret_id))]
    pub async fn delete_secret(
        &self,
        client_id: &ClientId,
        secret_id: i64,
        audit: &AuditRecord,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = to_millis(now);
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM client_secrets WHERE id = $1 AND client_id = $2")
                .bind(secret_id)
                .bind(client_id.as_str())
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

    /// Records when each secret last authenticated its client, in one transaction; a
    /// row never moves back in time (another process may have written a later use).
    #[tracing::instrument(skip_all, fields(secrets = uses.len()))]
    pub async fn record_secret_uses(&self, uses: &[(i64, DateTime<Utc>)]) -> anyhow::Result<()> {
        // In id order, so overlapping flushes of two processes never deadlock.
        let mut ordered: Vec<&(i64, DateTime<Utc>)> = uses.iter().collect();
        ordered.sort_unstable();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (secret_id, used) in &ordered {
                sqlx::query(
                    "UPDATE client_secrets SET last_used_at = $1 \
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(to_millis(*used))
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Replaces a secret's hash by another form of it, only if it is still `legacy`;
    /// returns whether it was replaced.
    #[tracing::instrument(skip_all, fields(secret_id))]
    pub async fn upgrade_secret_hash(
        &self,
        secret_id: i64,
        legacy: &str,
        upgraded: &str,
    ) -> anyhow::Result<bool> {
        let replaced = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE client_secrets SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3",
            )
            .bind(upgraded)
            .bind(secret_id)
            .bind(legacy)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0)
        })?;
        Ok(replaced)
    }
}
