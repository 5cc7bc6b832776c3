//! The feeds processes poll to stay in step: client changes (written by triggers) and
//! revoked access tokens.

use super::{on_pool, Store};

impl Store {
    /// `(id, client_id)` of the client changes recorded at or after `since_millis`.
    pub async fn client_changes_since(
        &self,
        since_millis: i64,
    ) -> anyhow::Result<Vec<(i64, String)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, client_id FROM client_changes WHERE changed_at >= $1 ORDER BY id",
            )
            .bind(since_millis)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn purge_client_changes(&self, before_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM client_changes WHERE changed_at < $1")
                .bind(before_millis)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Denies the token `jti` until `expires_millis`. Revoking twice is harmless.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_millis: i64,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(client_id)
            .bind(expires_millis)
            .bind(now_millis)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// `(jti, expires_at)` of tokens revoked at or after `since_millis` and not yet
    /// expired at `now_millis`.
    pub async fn revoked_tokens_since(
        &self,
        since_millis: i64,
        now_millis: i64,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT jti, expires_at FROM revoked_tokens \
                 WHERE revoked_at >= $1 AND expires_at > $2",
            )
            .bind(since_millis)
            .bind(now_millis)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn purge_revoked_tokens(&self, now_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                .bind(now_millis)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }
}
