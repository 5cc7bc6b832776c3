//! Client secret rows: names, display prefixes and hashes (see `clients::secrets`),
//! never secrets.

use chrono::{DateTime, Utc};

use super::audit::record_audit;
use super::audit::{Action, AuditContext};
use super::{from_millis, on_pool, to_millis, BeginWrite, Store};
use crate::clients::secrets::{NewSecret, StoredSecret};
use crate::clients::Client;
use crate::ids::ClientId;

macro_rules! columns {
    () => {
        "id, name, display_prefix, secret_hash, expires_at, created_at, last_used_at"
    };
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: i64,
    name: String,
    display_prefix: String,
    secret_hash: String,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<SecretRow> for StoredSecret {
    fn from(row: SecretRow) -> Self {
        StoredSecret {
            id: row.id,
            name: row.name,
            display_prefix: row.display_prefix,
            hash: row.secret_hash,
            expires_at: row.expires_at.map(from_millis),
            created_at: from_millis(row.created_at),
            last_used_at: row.last_used_at.map(from_millis),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertSecret {
    Inserted(StoredSecret),
    DuplicateName,
    TooMany(usize),
    ClientMissing,
}

impl Store {
    /// The client's secrets, oldest first.
    #[tracing::instrument(skip_all, fields(client_id = %client_id))]
    pub async fn client_secrets(&self, client_id: &ClientId) -> anyhow::Result<Vec<StoredSecret>> {
        let rows: Vec<SecretRow> = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", columns!(), " FROM client_secrets WHERE client_id = $1 ORDER BY id"
            ))
            .bind(client_id.as_str())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(StoredSecret::from).collect())
    }

    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_secret(
        &self,
        client: &Client,
        secret: &NewSecret,
        max_secrets: usize,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InsertSecret> {
        let now = to_millis(now);
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Lock the client's row first (PostgreSQL's READ COMMITTED would let two adds
            // both count one under the limit), so the limit holds on both databases.
            sqlx::query("UPDATE oauth_clients SET version = version WHERE id = $1")
                .bind(client.id.as_str())
                .execute(&mut *tx)
                .await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM client_secrets WHERE client_id = $1")
                .bind(client.id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if count >= i64::try_from(max_secrets).unwrap_or(i64::MAX) {
                return Ok(InsertSecret::TooMany(max_secrets));
            }
            let inserted: Result<SecretRow, sqlx::Error> = sqlx::query_as(concat!(
                "INSERT INTO client_secrets \
                   (client_id, name, display_prefix, secret_hash, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING ", columns!(), ""
            ))
            .bind(client.id.as_str())
            .bind(secret.name.as_str())
            .bind(&secret.display_prefix)
            .bind(&secret.hash)
            .bind(secret.expires_at.map(to_millis))
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            match inserted {
                Ok(row) => {
                    let target = format!("{}/{}", client.id, row.id);
                    record_audit!(tx, audit, Action::ClientSecretAdded, target,
                                  Some(client.tenant_id.as_str()), now)?;
                    tx.commit().await?;
                    Ok(InsertSecret::Inserted(row.into()))
                }
                Err(error) => match error.as_database_error() {
                    Some(db) if db.is_unique_violation() => Ok(InsertSecret::DuplicateName),
                    Some(db) if db.is_foreign_key_violation() => Ok(InsertSecret::ClientMissing),
                    _ => Err(error),
                },
            }
        })?;
        Ok(outcome)
    }

    /// Deletes one secret of `client`; returns whether it existed.
    #[tracing::instrument(skip_all, fields(client_id = %client.id, secret_id))]
    pub async fn delete_secret(
        &self,
        client: &Client,
        secret_id: i64,
        audit: &AuditContext,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let now = to_millis(now);
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM client_secrets WHERE id = $1 AND client_id = $2")
                .bind(secret_id)
                .bind(client.id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if deleted {
                let target = format!("{}/{secret_id}", client.id);
                record_audit!(tx, audit, Action::ClientSecretDeleted, target,
                              Some(client.tenant_id.as_str()), now)?;
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
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (secret_id, used) in uses {
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
