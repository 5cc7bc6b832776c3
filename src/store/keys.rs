//! Signing-key rows, and the locked transaction every key change runs in.

use super::audit::{insert_audit_record, AuditRecord};
use super::changes::record_change;
use super::{on_pool, BeginWrite, Change, Store};

/// A `signing_keys` row as stored; the private key is sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub origin: String,
    pub public_jwk: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What one locked key change writes.
#[derive(Debug, Default)]
pub struct KeyChanges {
    pub inserts: Vec<StoredKey>,
    /// Rows whose times changed (retires_at, expires_at, revoked_at are written).
    pub updates: Vec<StoredKey>,
    pub deletes: Vec<String>,
    /// Audit events to record with the change: what was done to which kid.
    pub audit: Vec<AuditRecord>,
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

macro_rules! key_columns {
    () => {
        "kid, alg, origin, public_jwk, private_key, created_at, activates_at, retires_at, \
         expires_at, revoked_at"
    };
}

impl Store {
    pub async fn signing_keys(&self) -> anyhow::Result<Vec<StoredKey>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", key_columns!(), " FROM signing_keys ORDER BY activates_at, created_at"))
                .fetch_all(pool)
                .await
        })?)
    }

    pub async fn has_signing_keys(&self) -> anyhow::Result<bool> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys").fetch_one(pool).await
        })?;
        Ok(count > 0)
    }

    /// Runs `decide` on the current rows while holding the key lock (a row lock on
    /// PostgreSQL, the write lock on SQLite), then writes its changes in the same
    /// transaction. Concurrent callers, in this process or another, run one after the
    /// other and each sees the rows the previous one committed.
    #[tracing::instrument(skip_all)]
    pub async fn change_signing_keys<T>(
        &self,
        now_millis: i64,
        decide: impl FnOnce(Vec<StoredKey>) -> anyhow::Result<(KeyChanges, T)>,
    ) -> anyhow::Result<T> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE signing_key_lock SET locked_at = $1 WHERE id = 1")
                .bind(now_millis)
                .execute(&mut *tx)
                .await?;
            let rows: Vec<StoredKey> = sqlx::query_as(concat!(
                "SELECT ", key_columns!(), " FROM signing_keys ORDER BY activates_at, created_at"
            ))
            .fetch_all(&mut *tx)
            .await?;
            let (changes, outcome) = decide(rows)?;
            if changes.is_empty() {
                tx.rollback().await?;
                return Ok(outcome);
            }
            for key in &changes.inserts {
                sqlx::query(concat!(
                    "INSERT INTO signing_keys (", key_columns!(), ") \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.origin)
                .bind(&key.public_jwk)
                .bind(&key.private_key)
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retires_at)
                .bind(key.expires_at)
                .bind(key.revoked_at)
                .execute(&mut *tx)
                .await?;
            }
            for key in &changes.updates {
                sqlx::query(
                    "UPDATE signing_keys SET retires_at = $2, expires_at = $3, revoked_at = $4 \
                     WHERE kid = $1",
                )
                .bind(&key.kid)
                .bind(key.retires_at)
                .bind(key.expires_at)
                .bind(key.revoked_at)
                .execute(&mut *tx)
                .await?;
            }
            for record in &changes.audit {
                insert_audit_record!(tx, record, now_millis)?;
            }
            for kid in &changes.deletes {
                sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?;
            }
            record_change!(tx, Change::Key, now_millis)?;
            tx.commit().await?;
            Ok(outcome)
        })
    }
}
