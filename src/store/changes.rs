//! The change feed's rows (see [`crate::changes`]) and the deny-list of revoked access
//! tokens it announces.
//!
//! Every write that other processes must learn of inserts its [`Change`] row with
//! [`record_change!`] inside its own transaction, as its last statement before the
//! commit: on PostgreSQL the row's number is drawn then, and readers await a number
//! drawn but not yet committed for a while only (see [`crate::changes`]), so the less
//! time between the insert and the commit the better. Client and secret changes are
//! recorded by triggers instead (migration 0005), deferred to the commit.

use super::audit::{insert_audit_record, AuditRecord};
use super::{on_pool, BeginWrite, Change, Store};

/// Records `change` inside the open transaction `$tx`:
/// `record_change!(tx, change, now_millis)`.
macro_rules! record_change {
    ($tx:expr, $change:expr, $now:expr) => {{
        let row = $change.to_row();
        sqlx::query(
            "INSERT INTO changes (kind, subject, instant, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(row.kind)
        .bind(row.subject)
        .bind(row.instant)
        .bind($now)
        .execute(&mut *$tx)
        .await
    }};
}
pub(crate) use record_change;

/// One row of the feed as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChangeRecord {
    pub seq: i64,
    pub kind: String,
    pub subject: String,
    pub instant: Option<i64>,
}

/// A run of sequence numbers, `first..=last`, a reader awaits: drawn by transactions
/// not committed yet when it read past them (or rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub first: i64,
    pub last: i64,
}

/// The oldest and newest sequence numbers the feed still holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedBounds {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Store {
    /// Up to `limit` changes after `last_seen`, in sequence order.
    pub async fn changes_after(
        &self,
        last_seen: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<ChangeRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, kind, subject, instant FROM changes WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(last_seen)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }

    /// What a poll reads: up to `limit` changes after `max_seen`, and every change in
    /// `gaps` (numbers below it this process awaits), in sequence order. The gaps are few
    /// and usually empty, so the read stays bounded however many rows follow one.
    pub async fn changes_to_read(
        &self,
        max_seen: i64,
        gaps: &[Gap],
        limit: u32,
    ) -> anyhow::Result<Vec<ChangeRecord>> {
        if gaps.is_empty() {
            return self.changes_after(max_seen, limit).await;
        }
        Ok(on_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT seq, kind, subject, instant FROM (\
                   SELECT seq, kind, subject, instant FROM changes WHERE seq > ",
            );
            query
                .push_bind(max_seen)
                .push(" ORDER BY seq LIMIT ")
                .push_bind(i64::from(limit))
                .push(") AS newest UNION ALL SELECT seq, kind, subject, instant FROM changes WHERE ");
            let mut ranges = query.separated(" OR ");
            for gap in gaps {
                ranges
                    .push("seq BETWEEN ")
                    .push_bind_unseparated(gap.first)
                    .push_unseparated(" AND ")
                    .push_bind_unseparated(gap.last);
            }
            query.push(" ORDER BY seq");
            query.build_query_as().fetch_all(pool).await
        })?)
    }

    pub async fn change_feed_bounds(&self) -> anyhow::Result<FeedBounds> {
        let (oldest, newest): (Option<i64>, Option<i64>) = on_pool!(self, pool => {
            // Two subqueries, not `SELECT MIN(seq), MAX(seq)`: SQLite reads an index end for
            // a lone MIN or MAX only, and scanned the whole feed every poll otherwise.
            sqlx::query_as("SELECT (SELECT MIN(seq) FROM changes), (SELECT MAX(seq) FROM changes)")
                .fetch_one(pool)
                .await
        })?;
        Ok(FeedBounds { oldest, newest })
    }

    /// Deletes the oldest changes, up to the last one recorded before `before_millis`,
    /// but always keeps the newest, so a process that fell behind can tell that rows it
    /// never read are gone. Only ever a prefix of the feed goes: `recorded_at` comes from
    /// the clocks of the writers, which need not agree, so deleting by time alone could
    /// leave a hole in the middle that no reader would notice.
    pub async fn purge_changes(&self, before_millis: i64) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM changes \
                 WHERE seq <= (SELECT MAX(seq) FROM changes WHERE recorded_at < $1) \
                 AND seq < (SELECT MAX(seq) FROM changes)",
            )
            .bind(before_millis)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Denies the token `jti` until `expires_millis`, with `audit`'s event when given
    /// (a portal session's end; RFC 7009 revocations are not audited). Revoking twice is
    /// harmless, and records nothing the second time.
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_millis: i64,
        audit: Option<&AuditRecord>,
        now_millis: i64,
    ) -> anyhow::Result<()> {
        let change = Change::RevokedToken {
            jti: jti.to_owned(),
            expires_at_millis: expires_millis,
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(client_id)
            .bind(expires_millis)
            .bind(now_millis)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted {
                if let Some(audit) = audit {
                    insert_audit_record!(tx, audit, now_millis)?;
                }
                record_change!(tx, change, now_millis)?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// `(jti, expires_at)` of the revoked tokens not yet expired at `now_millis`.
    pub async fn revoked_tokens(&self, now_millis: i64) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1")
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
