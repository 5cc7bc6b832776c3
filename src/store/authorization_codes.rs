//! Authorization code rows (migration 0008) in plain values: the code's SHA-256, the
//! ids it is bound to, Unix milliseconds. [`crate::oauth`] issues and exchanges codes;
//! the exchange's steps run in the caller's [`WriteTx`], so marking a code used and
//! starting its session commit as one.

use super::{for_update, on_tx, BeginWrite, Store, WriteTx};

macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, tenant_id, redirect_uri, redirect_uri_sent, scope, \
         code_challenge, auth_time, created_at, expires_at, used_at, session_id"
    };
}

/// An `authorization_codes` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRecord {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    /// Space-separated scope tokens.
    pub scope: String,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub session_id: Option<String>,
}

/// A code locked for its exchange, with what the exchange must know of its user now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LockedCode {
    #[sqlx(flatten)]
    pub code: CodeRecord,
    /// `None` if the user is gone.
    pub user_enabled: Option<bool>,
    pub password_changed_at: Option<i64>,
    /// Whether the user is still a member of the code's tenant.
    pub member: bool,
}

impl Store {
    /// Stores a new code, and purges the codes that expired before `purge_before`, in
    /// one transaction.
    #[tracing::instrument(skip_all, fields(client_id = %code.client_id))]
    pub async fn insert_authorization_code(
        &self,
        code: &CodeRecord,
        purge_before: i64,
    ) -> anyhow::Result<()> {
        macro_rules! insert {
            ($pool:expr) => {{
                let mut tx = $pool.begin_write().await?;
                sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
                    .bind(purge_before)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(concat!(
                    "INSERT INTO authorization_codes (",
                    code_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(&code.code_hash)
                .bind(&code.client_id)
                .bind(&code.user_id)
                .bind(&code.tenant_id)
                .bind(&code.redirect_uri)
                .bind(code.redirect_uri_sent)
                .bind(&code.scope)
                .bind(&code.code_challenge)
                .bind(code.auth_time)
                .bind(code.created_at)
                .bind(code.expires_at)
                .bind(code.used_at)
                .bind(&code.session_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }};
        }
        let outcome: sqlx::Result<()> = match self {
            Store::Sqlite(pool) => insert!(pool),
            Store::Postgres(pool) => insert!(pool),
        };
        outcome.map_err(|error| anyhow::Error::new(error).context("cannot store a code"))
    }

    /// The code with this hash, locked until `tx` ends, with its user's state.
    ///
    /// On PostgreSQL the user's row and membership are share-locked first, so that a
    /// concurrent disable, password change or removal either commits before the state
    /// is read (and the exchange is refused) or waits for the exchange to commit (and
    /// then ends the session it started). SQLite's single writer serialises them anyway.
    #[tracing::instrument(skip_all)]
    pub async fn lock_authorization_code(
        tx: &mut WriteTx,
        code_hash: &str,
    ) -> anyhow::Result<Option<LockedCode>> {
        if let WriteTx::Postgres(pg) = tx {
            let conn = &mut **pg;
            let owner: Option<(String, String)> = sqlx::query_as(
                "SELECT user_id, tenant_id FROM authorization_codes WHERE code_hash = $1 FOR UPDATE",
            )
            .bind(code_hash)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((user_id, tenant_id)) = owner {
                sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR SHARE")
                    .bind(&user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                sqlx::query(
                    "SELECT 1 FROM tenant_members WHERE tenant_id = $1 AND user_id = $2 FOR SHARE",
                )
                .bind(&tenant_id)
                .bind(&user_id)
                .fetch_optional(&mut *conn)
                .await?;
            }
        }
        let locked: Option<LockedCode> = for_update!(tx, concat!(
            "SELECT ", code_columns!(), ", \
               (SELECT u.enabled FROM users u WHERE u.id = c.user_id) AS user_enabled, \
               (SELECT u.password_changed_at FROM users u WHERE u.id = c.user_id) \
                 AS password_changed_at, \
               EXISTS (SELECT 1 FROM tenant_members m \
                       WHERE m.tenant_id = c.tenant_id AND m.user_id = c.user_id) AS member \
             FROM authorization_codes c WHERE c.code_hash = $1"
        ), conn => |query| {
            sqlx::query_as(query)
                .bind(code_hash)
                .fetch_optional(conn)
                .await
        })?;
        Ok(locked)
    }

    /// Marks the code used by the exchange that started `session_id`; `false` if it
    /// was used already.
    #[tracing::instrument(skip_all)]
    pub async fn mark_authorization_code_used(
        tx: &mut WriteTx,
        code_hash: &str,
        used_at: i64,
        session_id: &str,
    ) -> anyhow::Result<bool> {
        let updated = on_tx!(tx, conn => {
            sqlx::query(
                "UPDATE authorization_codes SET used_at = $2, session_id = $3 \
                 WHERE code_hash = $1 AND used_at IS NULL",
            )
            .bind(code_hash)
            .bind(used_at)
            .bind(session_id)
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }
}
