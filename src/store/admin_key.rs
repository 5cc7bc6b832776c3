//! The stored hash of a generated admin API key.

use chrono::{DateTime, Utc};

use super::{on_pool, to_millis, Store};

impl Store {
    pub async fn admin_key_hash(&self) -> anyhow::Result<Option<String>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT key_hash FROM admin_api_key WHERE id = 'global'")
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Stores the hash unless one exists; returns whether this call stored it.
    pub async fn insert_admin_key_hash(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let inserted = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO admin_api_key (id, key_hash, created_at) VALUES ('global', $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(key_hash)
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }
}
