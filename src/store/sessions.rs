//! Session and refresh token rows, in plain values (text ids, Unix milliseconds, scope
//! as space-separated text): [`crate::sessions`] owns what they mean. Every write is a
//! step of a [`WriteTx`] the sessions service composes, but the rotation of a refresh:
//! one unlocked read ([`Store::refresh_token`]), then one conditional write that marks
//! the token used, stores its successor and records the session's activity
//! ([`Store::rotate_unused_refresh_token`]; on SQLite, the rotations waiting are stored
//! together). What that cannot decide goes through a locked read
//! ([`Store::presented_refresh_token`]) and [`Store::rotate_refresh_token`]. Ending
//! sessions writes each ended id on the change feed in the same transaction.

use super::changes::record_change;
use super::Change;
use super::{
    for_update, on_pool, on_tx, write_at_once, IdleTimeoutRecord, SqliteWriter, Store, WriteTx,
    WriterTurn,
};
use crate::ids::SessionId;

macro_rules! session_columns {
    () => {
        "id, user_id, tenant_id, client_id, scope, auth_time, created_at, last_active_at, \
         family_expires_at, ended_at, end_reason, switched_at"
    };
}

/// A `sessions` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_active_at: i64,
    pub family_expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    /// When the session last moved to another tenant, if it did.
    pub switched_at: Option<i64>,
}

/// A `refresh_tokens` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub session_id: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub successor_hash: Option<String>,
    pub successor_sealed: Option<String>,
}

/// A presented refresh token, its session, and the idle timeout of the session's
/// tenant (if one was ever set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedRows {
    pub token: RefreshTokenRecord,
    pub session: SessionRecord,
    pub idle_timeout: Option<IdleTimeoutRecord>,
}

/// A rotation: the token `used_hash` dies at `now`, naming its `successor` (stored
/// unused) and, for the grace period, the successor `sealed` for it.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    pub used_hash: &'a str,
    pub successor: &'a RefreshTokenRecord,
    pub sealed: Option<&'a str>,
    pub now: i64,
}

impl<'a> Rotation<'a> {
    /// How many parameters [`Rotation::bind`] binds.
    const PARAMETERS: usize = 9;

    /// Binds the parameters every rotation statement shares: $1 now, $2 the
    /// successor's hash, $3 it sealed, $4 the used token's hash, $5 the session, $6 the
    /// client, $7 the scope, $8 and $9 the successor's creation and expiry.
    fn bind<'q, DB: sqlx::Database>(
        &self,
        query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        let successor = self.successor;
        debug_assert!(
            successor.used_at.is_none()
                && successor.successor_hash.is_none()
                && successor.successor_sealed.is_none(),
            "a successor is stored unused"
        );
        query
            .bind(self.now)
            .bind(successor.token_hash.as_str())
            .bind(self.sealed)
            .bind(self.used_hash)
            .bind(successor.session_id.as_str())
            .bind(successor.client_id.as_str())
            .bind(successor.scope.as_str())
            .bind(successor.created_at)
            .bind(successor.expires_at)
    }
}

impl Rotation<'_> {
    fn owned(self) -> OwnedRotation {
        OwnedRotation {
            used_hash: self.used_hash.to_owned(),
            successor: self.successor.clone(),
            sealed: self.sealed.map(str::to_owned),
            now: self.now,
        }
    }
}

#[derive(Debug)]
struct OwnedRotation {
    used_hash: String,
    successor: RefreshTokenRecord,
    sealed: Option<String>,
    now: i64,
}

impl OwnedRotation {
    fn borrowed(&self) -> Rotation<'_> {
        Rotation {
            used_hash: &self.used_hash,
            successor: &self.successor,
            sealed: self.sealed.as_deref(),
            now: self.now,
        }
    }
}

#[derive(sqlx::FromRow)]
struct PresentedRow {
    #[sqlx(flatten)]
    token: RefreshTokenRecord,
    s_id: String,
    s_user_id: String,
    s_tenant_id: String,
    s_client_id: String,
    s_scope: String,
    s_auth_time: i64,
    s_created_at: i64,
    s_last_active_at: i64,
    s_family_expires_at: i64,
    s_ended_at: Option<i64>,
    s_end_reason: Option<String>,
    s_switched_at: Option<i64>,
    i_enabled: Option<bool>,
    i_timeout_seconds: Option<i64>,
    i_since: Option<i64>,
    i_updated_at: Option<i64>,
}

impl PresentedRow {
    fn split(self) -> PresentedRows {
        let idle_timeout = match (
            self.i_enabled,
            self.i_timeout_seconds,
            self.i_since,
            self.i_updated_at,
        ) {
            (Some(enabled), Some(timeout_seconds), Some(since), Some(updated_at)) => {
                Some(IdleTimeoutRecord {
                    tenant_id: self.s_tenant_id.clone(),
                    enabled,
                    timeout_seconds,
                    since,
                    updated_at,
                })
            }
            _ => None,
        };
        PresentedRows {
            idle_timeout,
            token: self.token,
            session: SessionRecord {
                id: self.s_id,
                user_id: self.s_user_id,
                tenant_id: self.s_tenant_id,
                client_id: self.s_client_id,
                scope: self.s_scope,
                auth_time: self.s_auth_time,
                created_at: self.s_created_at,
                last_active_at: self.s_last_active_at,
                family_expires_at: self.s_family_expires_at,
                ended_at: self.s_ended_at,
                end_reason: self.s_end_reason,
                switched_at: self.s_switched_at,
            },
        }
    }
}

/// The one read of a refresh: the token, its session and its tenant's idle timeout (on
/// PostgreSQL the idle timeout as of the statement's start, not after a wait for the
/// token's lock: a change of the timeout in those milliseconds applies from the next
/// refresh).
macro_rules! presented_select {
    () => {
        "SELECT t.token_hash, t.session_id, t.client_id, t.scope, t.created_at, t.expires_at, \
           t.used_at, t.successor_hash, t.successor_sealed, \
           s.id AS s_id, s.user_id AS s_user_id, s.tenant_id AS s_tenant_id, \
           s.client_id AS s_client_id, s.scope AS s_scope, s.auth_time AS s_auth_time, \
           s.created_at AS s_created_at, s.last_active_at AS s_last_active_at, \
           s.family_expires_at AS s_family_expires_at, s.ended_at AS s_ended_at, \
           s.end_reason AS s_end_reason, s.switched_at AS s_switched_at, \
           i.enabled AS i_enabled, i.timeout_seconds AS i_timeout_seconds, \
           i.since AS i_since, i.updated_at AS i_updated_at \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
           LEFT JOIN idle_timeouts i ON i.tenant_id = s.tenant_id \
         WHERE t.token_hash = $1"
    };
}

/// The successor of a rotation, in the parameters of [`Store::rotate_refresh_token`]
/// and [`Store::rotate_unused_refresh_token`] (followed by the values or the `SELECT`
/// that gives them).
macro_rules! insert_successor {
    () => {
        "INSERT INTO refresh_tokens (token_hash, session_id, client_id, scope, created_at, \
           expires_at, used_at, successor_hash, successor_sealed) "
    };
}

/// The successor's values, in those parameters.
macro_rules! successor_values {
    () => {
        "$2, $5, $6, $7, $8, $9, NULL, NULL, NULL"
    };
}

/// Marks the presented token used, in those parameters.
macro_rules! mark_used {
    () => {
        "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2, successor_sealed = $3 \
         WHERE token_hash = $4"
    };
}

/// The condition under which a rotation decided on an unlocked read still holds: the
/// token unused, its session not ended (in those parameters, after [`mark_used!`]). On
/// PostgreSQL the session as of the statement's snapshot: an ending committed during
/// the statement orders after the rotation, whose successor it then ends.
macro_rules! still_unused {
    () => {
        " AND used_at IS NULL \
         AND EXISTS (SELECT 1 FROM sessions WHERE id = $5 AND ended_at IS NULL)"
    };
}

/// The session's activity at a rotation, in those parameters: as
/// [`Store::touch_session`], a later instant already stored is kept.
macro_rules! touch_for_rotation {
    () => {
        "UPDATE sessions SET last_active_at = $1 WHERE id = $5 AND last_active_at < $1"
    };
}

/// A rotation waiting for the SQLite writer, and where its outcome goes.
#[derive(Debug)]
pub(crate) struct QueuedRotation {
    rotation: OwnedRotation,
    reply: tokio::sync::oneshot::Sender<sqlx::Result<bool>>,
}

/// The most rotations stored in one transaction. A transaction stores a power of two
/// of them, so that each connection prepares (and keeps) at most five texts.
const ROTATIONS_PER_TRANSACTION: usize = 16;

/// One conditional rotation, in the parameters of [`Rotation::bind`]: the token marked
/// used if still unused with its session live; the successor stored (and returned) if
/// it was; the session's activity recorded if it was.
macro_rules! conditional_rotation {
    () => {
        concat!(
            mark_used!(),
            still_unused!(),
            "; ",
            insert_successor!(),
            "SELECT ",
            successor_values!(),
            " WHERE EXISTS (SELECT 1 FROM refresh_tokens \
               WHERE token_hash = $4 AND successor_hash = $2) RETURNING token_hash; ",
            touch_for_rotation!(),
            " AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = $2); "
        )
    };
}

/// Queues `queued`, takes its turn to write and stores the rotations waiting then (the oldest, up to
/// [`ROTATIONS_PER_TRANSACTION`]) in one transaction (a group commit: what the turn
/// costs, and the commit, is shared by all). Every queued rotation runs one of these,
/// so each is stored by one of these tasks. Should that transaction fail, every rotation
/// in it gets the error.
async fn store_queued_rotations(
    pool: sqlx::SqlitePool,
    writer: std::sync::Arc<SqliteWriter>,
    queued: QueuedRotation,
) {
    writer.rotations.lock().expect("not poisoned").push(queued);
    let turn = writer.turn().await;
    let batch: Vec<QueuedRotation> = {
        let mut queue = writer.rotations.lock().expect("not poisoned");
        let taken = match queue.len().min(ROTATIONS_PER_TRANSACTION) {
            0 => 0,
            waiting => 1 << waiting.ilog2(),
        };
        queue.drain(..taken).collect()
    };
    let turn = match turn {
        Ok(turn) => turn,
        Err(error) => {
            for queued in batch {
                let _ = queued.reply.send(Err(sqlx::Error::PoolTimedOut));
            }
            tracing::warn!(%error, "no turn to store refresh rotations");
            return;
        }
    };
    if batch.is_empty() {
        return;
    }
    match store_rotations(&pool, &turn, &batch).await {
        Ok(stored) => {
            for queued in batch {
                let applied = stored.contains(&queued.rotation.successor.token_hash);
                let _ = queued.reply.send(Ok(applied));
            }
        }
        // What fails a batch is the database (busy, full, gone), not one rotation: the
        // conditions make each one a no-op rather than an error. Trying each alone would
        // hold the turn through as many failures.
        Err(error) => {
            tracing::warn!(%error, rotations = batch.len(), "refresh rotations not stored");
            for queued in batch {
                let _ = queued.reply.send(Err(same_kind(&error)));
            }
        }
    }
}

/// An error for each waiter of a failed batch, telling as the original whether the
/// database is unavailable (see [`super::is_unavailable`]): `sqlx::Error` cannot be
/// cloned.
fn same_kind(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            sqlx::Error::PoolTimedOut
        }
        sqlx::Error::Database(database) if super::is_out_of_space(database.as_ref()) => {
            sqlx::Error::PoolTimedOut
        }
        other => sqlx::Error::Protocol(format!("refresh rotations not stored: {other}")),
    }
}

/// Stores `batch` in one transaction: the hashes of the successors stored.
async fn store_rotations(
    pool: &sqlx::SqlitePool,
    turn: &WriterTurn,
    batch: &[QueuedRotation],
) -> sqlx::Result<Vec<String>> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    for (index, _) in batch.iter().enumerate() {
        sql.push_str(&renumbered(
            conditional_rotation!(),
            index * Rotation::PARAMETERS,
        ));
    }
    sql.push_str("COMMIT");
    let mut statements = sqlx::query(sqlx::AssertSqlSafe(sql));
    for queued in batch {
        statements = queued.rotation.borrowed().bind(statements);
    }
    let rows = write_at_once(pool, turn, statements).await?;
    rows.iter()
        .map(|row| sqlx::Row::try_get::<String, _>(row, 0))
        .collect()
}

/// `sql` with every parameter `$N` moved up by `offset`, for the statements of
/// several rows in one query.
fn renumbered(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(number) => out.push_str(&(number + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFilter<'a> {
    One(&'a str),
    User(&'a str),
    UserInTenant { user: &'a str, tenant: &'a str },
}

impl Store {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    pub async fn insert_session(tx: &mut WriteTx, session: &SessionRecord) -> anyhow::Result<()> {
        on_tx!(tx, conn => {
            sqlx::query(concat!(
                "INSERT INTO sessions (", session_columns!(), ") \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(&session.id)
            .bind(&session.user_id)
            .bind(&session.tenant_id)
            .bind(&session.client_id)
            .bind(&session.scope)
            .bind(session.auth_time)
            .bind(session.created_at)
            .bind(session.last_active_at)
            .bind(session.family_expires_at)
            .bind(session.ended_at)
            .bind(&session.end_reason)
            .bind(session.switched_at)
            .execute(conn)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    pub async fn insert_refresh_token(
        tx: &mut WriteTx,
        token: &RefreshTokenRecord,
    ) -> anyhow::Result<()> {
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, client_id, scope, \
                   created_at, expires_at, used_at, successor_hash, successor_sealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&token.token_hash)
            .bind(&token.session_id)
            .bind(&token.client_id)
            .bind(&token.scope)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.used_at)
            .bind(&token.successor_hash)
            .bind(&token.successor_sealed)
            .execute(conn)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// The refresh token with this hash and its session; the token's row locked until
    /// `tx` ends, so concurrent presentations of one token are decided one after the
    /// other. (The session is locked by whoever ends it, with its update.)
    pub async fn presented_refresh_token(
        tx: &mut WriteTx,
        token_hash: &str,
    ) -> anyhow::Result<Option<PresentedRows>> {
        let row: Option<PresentedRow> = match tx {
            WriteTx::Sqlite(tx) => {
                sqlx::query_as(presented_select!())
                    .bind(token_hash)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            WriteTx::Postgres(tx) => {
                // Waiting for a concurrent rotation, the lock returns the token's row as
                // that rotation left it.
                sqlx::query_as(concat!(presented_select!(), " FOR UPDATE OF t"))
                    .bind(token_hash)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        };
        Ok(row.map(PresentedRow::split))
    }

    /// The refresh token with this hash, read in `tx` (the successor of a used one).
    pub async fn refresh_token_in(
        tx: &mut WriteTx,
        token_hash: &str,
    ) -> anyhow::Result<Option<RefreshTokenRecord>> {
        Ok(on_tx!(tx, conn => {
            sqlx::query_as(
                "SELECT token_hash, session_id, client_id, scope, created_at, expires_at, \
                   used_at, successor_hash, successor_sealed \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(conn)
            .await
        })?)
    }

    /// Marks the token `used_hash` used at `now`, naming its successor (and, for the
    /// grace period, the successor sealed), stores the successor (unused), and records
    /// the session's activity at `now`, in `tx`: one round trip, as it runs under the
    /// write lock (on SQLite, three statements in one query; on PostgreSQL, one
    /// statement).
    pub async fn rotate_refresh_token(
        tx: &mut WriteTx,
        rotation: &Rotation<'_>,
    ) -> anyhow::Result<()> {
        match tx {
            WriteTx::Sqlite(tx) => rotation
                .bind(sqlx::query(concat!(
                    mark_used!(),
                    "; ",
                    insert_successor!(),
                    "VALUES (",
                    successor_values!(),
                    "); ",
                    touch_for_rotation!()
                )))
                .execute(&mut **tx)
                .await
                .map(drop),
            WriteTx::Postgres(tx) => rotation
                .bind(sqlx::query(concat!(
                    "WITH used AS (",
                    mark_used!(),
                    "), touched AS (",
                    touch_for_rotation!(),
                    ") ",
                    insert_successor!(),
                    "VALUES (",
                    successor_values!(),
                    ")"
                )))
                .execute(&mut **tx)
                .await
                .map(drop),
        }?;
        Ok(())
    }

    /// [`Store::rotate_refresh_token`] as a transaction of its own, on the condition
    /// that the token is still unused and its session not ended: the rotation of a
    /// refresh decided on an unlocked read ([`Store::refresh_token`]). Whether it was
    /// applied; when it was not (another presentation or an ending came first), it
    /// wrote nothing. On PostgreSQL it is one statement. On SQLite, where one
    /// transaction writes at a time, the rotations waiting are stored together, in one
    /// transaction and one hand-off to SQLite's thread ([`store_queued_rotations`]).
    /// Not to be called inside a [`WriteTx`] on SQLite: it waits for the writer turn
    /// that transaction holds. Once queued, a rotation is stored even if the caller
    /// stops waiting (the grace period covers a response so lost).
    pub async fn rotate_unused_refresh_token(
        &self,
        rotation: &Rotation<'_>,
    ) -> anyhow::Result<bool> {
        match self {
            Store::Sqlite(pool) => {
                let writer = SqliteWriter::of(pool);
                let (reply, applied) = tokio::sync::oneshot::channel();
                let queued = QueuedRotation {
                    rotation: rotation.owned(),
                    reply,
                };
                // Queued by the task itself: a task that never runs (its runtime gone)
                // drops the reply, and this call fails instead of waiting for ever.
                writer.run(store_queued_rotations(pool.clone(), writer.clone(), queued));
                let applied = applied
                    .await
                    .map_err(|_| anyhow::anyhow!("the queued rotation was dropped unanswered"))?;
                Ok(applied?)
            }
            Store::Postgres(pool) => Ok(rotation
                .bind(sqlx::query(concat!(
                    "WITH used AS (",
                    mark_used!(),
                    still_unused!(),
                    " RETURNING session_id), touched AS (",
                    touch_for_rotation!(),
                    " AND id IN (SELECT session_id FROM used)) ",
                    insert_successor!(),
                    "SELECT ",
                    successor_values!(),
                    " FROM used RETURNING token_hash"
                )))
                .fetch_optional(pool)
                .await?
                .is_some()),
        }
    }

    /// Ends the sessions `filter` names that have not ended, at `now` for `reason`, and
    /// records a [`Change::SessionEnded`] for each. Returns the ids ended.
    #[tracing::instrument(skip_all, fields(reason))]
    pub async fn end_sessions(
        tx: &mut WriteTx,
        filter: SessionFilter<'_>,
        reason: &str,
        now: i64,
    ) -> anyhow::Result<Vec<String>> {
        tracing::Span::current().record("reason", reason);
        let ended: Vec<String> = on_tx!(tx, conn => {
            let ended: Vec<String> = match filter {
                SessionFilter::One(id) => sqlx::query_scalar(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                     WHERE id = $3 AND ended_at IS NULL RETURNING id",
                )
                .bind(now)
                .bind(reason)
                .bind(id)
                .fetch_all(&mut *conn)
                .await?,
                SessionFilter::User(user) => sqlx::query_scalar(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                     WHERE user_id = $3 AND ended_at IS NULL RETURNING id",
                )
                .bind(now)
                .bind(reason)
                .bind(user)
                .fetch_all(&mut *conn)
                .await?,
                SessionFilter::UserInTenant { user, tenant } => sqlx::query_scalar(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                     WHERE user_id = $3 AND tenant_id = $4 AND ended_at IS NULL RETURNING id",
                )
                .bind(now)
                .bind(reason)
                .bind(user)
                .bind(tenant)
                .fetch_all(&mut *conn)
                .await?,
            };
            for id in &ended {
                if let Ok(session) = SessionId::parse(id) {
                    let change = Change::SessionEnded {
                        session,
                        ended_at_millis: now,
                    };
                    record_change!(conn, change, now)?;
                }
            }
            Ok::<_, sqlx::Error>(ended)
        })?;
        Ok(ended)
    }

    /// The session `id`, locked until `tx` ends (a switch reads what it replaces).
    pub async fn session_for_update(
        tx: &mut WriteTx,
        id: &str,
    ) -> anyhow::Result<Option<SessionRecord>> {
        Ok(for_update!(tx, concat!(
            "SELECT ", session_columns!(), " FROM sessions WHERE id = $1"
        ), conn => |query| {
            sqlx::query_as(query).bind(id).fetch_optional(conn).await
        })?)
    }

    /// Locks the refresh tokens of the session `id` until `tx` ends, on PostgreSQL (on
    /// SQLite the transaction holds the write lock already). A switch takes them before
    /// the session row, in the order a refresh takes them (its token, then the session),
    /// so the two never wait for each other in a circle.
    pub async fn lock_refresh_tokens_of(tx: &mut WriteTx, id: &str) -> anyhow::Result<()> {
        if let WriteTx::Postgres(tx) = tx {
            sqlx::query("SELECT token_hash FROM refresh_tokens WHERE session_id = $1 FOR UPDATE")
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Whether `user_id` is enabled and a member of `tenant_id`, read in `tx`. On
    /// PostgreSQL both rows are share-locked, so a concurrent disable or removal either
    /// commits first (and is seen) or waits for `tx` (and then ends what it started).
    pub async fn enabled_member_in(
        tx: &mut WriteTx,
        user_id: &str,
        tenant_id: &str,
    ) -> anyhow::Result<bool> {
        const QUERY: &str = "SELECT u.enabled FROM users u \
             JOIN tenant_members m ON m.user_id = u.id AND m.tenant_id = $2 WHERE u.id = $1";
        let enabled: Option<bool> = match tx {
            WriteTx::Sqlite(tx) => {
                sqlx::query_scalar(QUERY)
                    .bind(user_id)
                    .bind(tenant_id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            WriteTx::Postgres(tx) => {
                sqlx::query_scalar(
                    "SELECT u.enabled FROM users u \
                     JOIN tenant_members m ON m.user_id = u.id AND m.tenant_id = $2 \
                     WHERE u.id = $1 FOR SHARE",
                )
                .bind(user_id)
                .bind(tenant_id)
                .fetch_optional(&mut **tx)
                .await?
            }
        };
        Ok(enabled == Some(true))
    }

    /// Moves the session `id` to `tenant_id`, its client `client_id` and `scope` at
    /// `now` (which counts as activity) and deletes every refresh token of it: the caller
    /// issues the new one. Then [`Store::record_session_switched`] as the transaction's
    /// last step.
    pub async fn switch_session(
        tx: &mut WriteTx,
        id: &str,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        on_tx!(tx, conn => {
            sqlx::query(
                "UPDATE sessions SET tenant_id = $1, client_id = $2, scope = $3, \
                   switched_at = $4, last_active_at = $4 WHERE id = $5",
            )
            .bind(tenant_id)
            .bind(client_id)
            .bind(scope)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM refresh_tokens WHERE session_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Records that the session changed tenant, so every process reads it again.
    pub async fn record_session_switched(
        tx: &mut WriteTx,
        session: &SessionId,
        now: i64,
    ) -> anyhow::Result<()> {
        on_tx!(tx, conn => {
            record_change!(conn, Change::SessionSwitched(session.clone()), now).map(drop)
        })?;
        Ok(())
    }

    /// Records activity of the session `id` at `at`, in `tx` (a refresh).
    pub async fn touch_session(tx: &mut WriteTx, id: &str, at: i64) -> anyhow::Result<()> {
        on_tx!(tx, conn => {
            sqlx::query(
                "UPDATE sessions SET last_active_at = $1 WHERE id = $2 AND last_active_at < $1",
            )
            .bind(at)
            .bind(id)
            .execute(conn)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Records the activity of many sessions (`(id, at)`) in one write transaction; a
    /// later instant already stored is kept. Rows are locked in id order, so two
    /// processes flushing overlapping batches wait for each other instead of
    /// deadlocking (PostgreSQL).
    pub async fn record_activity(&self, activity: &[(String, i64)]) -> anyhow::Result<()> {
        if activity.is_empty() {
            return Ok(());
        }
        let mut ordered: Vec<&(String, i64)> = activity.iter().collect();
        ordered.sort_unstable();
        let mut tx = self.begin_write().await?;
        for (id, at) in ordered {
            Self::touch_session(&mut tx, id, *at).await?;
        }
        tx.commit().await
    }

    /// The session `id`, if it exists.
    pub async fn session(&self, id: &str) -> anyhow::Result<Option<SessionRecord>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// The refresh token with this hash and its session, unlocked (a refresh's first
    /// read, introspection, revocation).
    pub async fn refresh_token(&self, token_hash: &str) -> anyhow::Result<Option<PresentedRows>> {
        let row: Option<PresentedRow> = on_pool!(self, pool => {
            sqlx::query_as(presented_select!())
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(PresentedRow::split))
    }

    /// `(id, ended_at)` of the sessions ended after `since_millis`: those whose access
    /// tokens may still be unexpired.
    pub async fn ended_sessions(&self, since_millis: i64) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, ended_at FROM sessions WHERE ended_at IS NOT NULL AND ended_at > $1",
            )
            .bind(since_millis)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Housekeeping: forgets sealed successors whose grace period is over (used before
    /// `sealed_before`), refresh tokens expired at `now`, and sessions that ended or
    /// whose family expired before `sessions_before` (no access token of theirs can be
    /// unexpired), with their tokens.
    pub async fn purge_sessions(
        &self,
        sealed_before: i64,
        now: i64,
        sessions_before: i64,
    ) -> anyhow::Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE refresh_tokens SET successor_sealed = NULL \
                 WHERE successor_sealed IS NOT NULL AND used_at < $1",
            )
            .bind(sealed_before)
            .execute(pool)
            .await?;
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) \
                   OR family_expires_at < $1",
            )
            .bind(sessions_before)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::renumbered;

    #[test]
    fn parameters_move_up_and_nothing_else_changes() {
        assert_eq!(
            renumbered("UPDATE t SET a = $1 WHERE b = $10 AND c = '$'", 9),
            "UPDATE t SET a = $10 WHERE b = $19 AND c = '$'"
        );
        assert_eq!(renumbered("x = $2", 0), "x = $2");
        assert_eq!(renumbered("$9$1", 18), "$27$19");
    }
}
