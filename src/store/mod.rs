//! Storage: one set of SQL for SQLite and PostgreSQL.
//!
//! Queries are written once with `$N` placeholders (both drivers accept them) and run
//! on whichever concrete pool the configuration selected, through [`on_pool!`]. Only
//! portable types cross the boundary: text ids, `BIGINT` Unix milliseconds, JSON as
//! text. Each backend has its own migration folder with matching versions.
//!
//! The store imports no domain module: its functions take and return its own records
//! (`ClientRecord`, `TenantRecord`, …) and the shared values of `crate::ids`; each
//! domain module converts to and from its own types. What the store's writes record
//! with themselves is plain values too: audit rows ([`AuditRecord`], built by
//! `crate::audit`) and change-feed events ([`Change`]).

mod admin_key;
mod audit;
mod authorization_codes;
mod change_event;
mod changes;
mod clients;
mod idle_timeouts;
mod keys;
mod portal_links;
mod secrets;
mod sessions;
mod tenant_tokens;
mod tenants;
mod users;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use secrecy::SecretString;
use serde::Deserialize;

pub use audit::{AuditRecord, AuditRow};
pub use authorization_codes::{CodeRecord, LockedCode};
pub use change_event::{Change, ChangeRow};
pub use changes::{ChangeRecord, FeedBounds, Gap};
pub use clients::{ClientRecord, InsertClient};
pub use idle_timeouts::IdleTimeoutRecord;
pub use keys::{KeyChanges, StoredKey};
pub use portal_links::PortalLinkRecord;
pub use secrets::{InsertSecret, NewSecretRecord, OwnedSecretRecord, SecretRecord};
pub use sessions::{PresentedRows, RefreshTokenRecord, Rotation, SessionFilter, SessionRecord};
pub use tenant_tokens::TenantTokenRevocationRows;
pub use tenants::{TenantRecord, UpsertOutcome};
pub use users::{InsertUser, MemberRecord, SignInState, UserRecord};

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
    pub migrate_on_start: bool,
    /// SQLite's page cache, per connection: with WAL, every read transaction after a
    /// write by another connection re-reads the pages it needs, so the cache bounds
    /// memory (`max_connections` × this) more than it saves reads.
    pub sqlite_cache_kib: u32,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a PostgreSQL connection may sit idle in the pool and still be lent without
/// a ping first.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A handle on the database; cheap to clone (it is a pool).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$store`: the same query
/// text, type-checked once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let url = settings.url.expose_secret();
        let acquire_timeout = Duration::from_secs(settings.acquire_timeout_seconds);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("database.url is not a valid SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                // A negative size is in KiB, not pages (https://sqlite.org/pragma.html#pragma_cache_size).
                .pragma("cache_size", format!("-{}", settings.sqlite_cache_kib));
            if let Some(folder) = options.get_filename().parent() {
                if !folder.as_os_str().is_empty() {
                    std::fs::create_dir_all(folder).with_context(|| {
                        format!("cannot create the database folder {}", folder.display())
                    })?;
                }
            }
            let file = options.get_filename().to_path_buf();
            // Switching a new database to WAL needs the file to itself: processes starting
            // together on one file take turns.
            let _turn = StartupLock::acquire(&file).await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
                // A file cannot hang up: the ping sqlx sends before lending a connection
                // would only be one more hand-off to its worker thread, inside the
                // writer's turn for every write.
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the SQLite database {}", file.display()))?;
            // SQLite opens a file it may not write read-only, without a word: find out now,
            // rather than at the first write a client makes.
            can_write(&pool)
                .await
                .with_context(|| cannot_write(&file))?;
            SqliteWriter::opened(&pool);
            Ok(Store::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
                // sqlx pings every connection it lends, one round trip more per
                // transaction. A connection that broke in use is closed when it comes
                // back (sqlx pings it then); only one that sat idle long enough for
                // the server to go away is worth the ping before use.
                .test_before_acquire(false)
                .before_acquire(|connection, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_AFTER_IDLE {
                            sqlx::Connection::ping(connection).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await
                .context("cannot connect to PostgreSQL")?;
            Ok(Store::Postgres(pool))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations. Concurrent starts on PostgreSQL are serialised by
    /// sqlx's advisory lock.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(pool) => {
                // sqlx takes no lock on SQLite; without one, two processes starting
                // together would both apply the first migration.
                let _turn = StartupLock::acquire(pool.connect_options().get_filename()).await?;
                SQLITE_MIGRATIONS.run(pool).await
            }
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .context("cannot apply database migrations")
    }

    /// One round trip: is the database answering?
    pub async fn ping(&self) -> anyhow::Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
            .context("database ping failed")
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// The pool's connections now (for the metrics).
    pub fn pool_usage(&self) -> PoolUsage {
        on_pool!(self, pool => PoolUsage {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }
}

/// Connections of the pool: open ones (idle or lent out), of at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// A write transaction that services compose: several store steps ("read the current
/// row, check it, write its successor") committed or rolled back as one unit. On SQLite
/// it holds the write lock from its first statement (`BEGIN IMMEDIATE`), so what it read
/// cannot change before it writes; on PostgreSQL its reads that lock a row say so
/// (`SELECT … FOR UPDATE`, see [`for_update`]). Dropped without
/// [`WriteTx::commit`], it rolls back.
pub enum WriteTx {
    Sqlite(SqliteWrite),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the connection of `$tx` (a `&mut WriteTx`): the
/// same query text, type-checked once per backend.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::WriteTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::store::WriteTx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// `$select` (a string literal) as a row-locking read: `FOR UPDATE` on PostgreSQL; on
/// SQLite the transaction already holds the write lock.
macro_rules! for_update {
    ($tx:expr, $select:expr, $conn:ident => |$query:ident| $body:expr) => {
        match $tx {
            $crate::store::WriteTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                let $query = $select;
                $body
            }
            $crate::store::WriteTx::Postgres(tx) => {
                let $conn = &mut **tx;
                let $query = concat!($select, " FOR UPDATE");
                $body
            }
        }
    };
}
pub(crate) use for_update;

impl Store {
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx> {
        Ok(match self {
            Store::Sqlite(pool) => WriteTx::Sqlite(pool.begin_write().await?),
            Store::Postgres(pool) => WriteTx::Postgres(pool.begin_write().await?),
        })
    }
}

impl WriteTx {
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await,
            WriteTx::Postgres(tx) => tx.commit().await,
        }
        .context("cannot commit")
    }
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, after the
/// writers of this process ahead of it ([`SqliteWrite`]): concurrent writers then queue
/// instead of failing when a read lock has to become a write lock.
pub(crate) trait BeginWrite {
    type Write;

    async fn begin_write(&self) -> sqlx::Result<Self::Write>;
}

/// SQLite takes one writer at a time. Writers of one process wait their turn here, in
/// order and awake; left to SQLite's busy handler they would sleep between tries (up to
/// 100 ms each), which put hundreds of milliseconds on the tail of parallel refreshes.
/// Other processes on the same file still meet the busy timeout.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static SQLITE_WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<SqliteWriter>>>> =
    LazyLock::new(Default::default);

/// What this process keeps for writing one SQLite database file.
pub(crate) struct SqliteWriter {
    /// Whose turn it is to write.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Where writes that must not be cancelled half-way run: the runtime that opened
    /// the database (the server's, not an HTTP worker's, whose queue of requests would
    /// delay each step while the turn is held). The last opening's, as an earlier one
    /// may have ended (tests run each in a runtime of its own).
    runtime: Mutex<tokio::runtime::Handle>,
    /// Refresh rotations waiting to be stored together (`sessions.rs`).
    pub(crate) rotations: Mutex<Vec<sessions::QueuedRotation>>,
}

impl SqliteWriter {
    /// The writer of the database behind `pool`, made on first use.
    pub(crate) fn of(pool: &SqlitePool) -> Arc<SqliteWriter> {
        let file = pool.connect_options().get_filename().to_path_buf();
        SQLITE_WRITERS
            .lock()
            .expect("not poisoned")
            .entry(file)
            .or_insert_with(|| {
                Arc::new(SqliteWriter {
                    turn: Arc::default(),
                    runtime: Mutex::new(tokio::runtime::Handle::current()),
                    rotations: Mutex::default(),
                })
            })
            .clone()
    }

    /// The writer of the database `pool` has just opened, running its writes on the
    /// current runtime from now on.
    fn opened(pool: &SqlitePool) {
        let writer = Self::of(pool);
        *writer.runtime.lock().expect("not poisoned") = tokio::runtime::Handle::current();
    }

    /// This process's turn to write, after the writers ahead of it.
    pub(crate) async fn turn(&self) -> sqlx::Result<WriterTurn> {
        // As long as SQLite's own busy timeout: a turn that never comes is an error, not
        // a hang.
        let turn = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.turn.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        Ok(WriterTurn(turn))
    }

    /// Runs `work` to its end on the writer's runtime, even if the caller stops waiting.
    pub(crate) fn run<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        drop(self.runtime.lock().expect("not poisoned").spawn(work));
    }
}

/// A process's turn to write a SQLite database.
pub(crate) struct WriterTurn(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

/// A SQLite write transaction holding this process's writer turn until it ends.
/// Dereferences to the connection, like `sqlx::Transaction`.
pub struct SqliteWrite {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: WriterTurn,
}

impl SqliteWrite {
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    /// Ends the transaction before the turn passes. (Dropped instead, sqlx only queues
    /// the rollback, and the next writer may meet the busy timeout until it has run.)
    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for SqliteWrite {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteWrite {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl BeginWrite for SqlitePool {
    type Write = SqliteWrite;

    async fn begin_write(&self) -> sqlx::Result<SqliteWrite> {
        let turn = SqliteWriter::of(self).turn().await?;
        let connection = usable_connection(self).await?;
        let begin = sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE");
        let tx = sqlx::Transaction::begin(connection, Some(begin)).await?;
        Ok(SqliteWrite { tx, _turn: turn })
    }
}

/// A connection of `pool` that is not inside a transaction.
async fn usable_connection(pool: &SqlitePool) -> sqlx::Result<PoolConnection<sqlx::Sqlite>> {
    // SQLite ends a transaction by itself on some errors (a full disk, an I/O error);
    // sqlx's ROLLBACK then fails, and its connection believes a transaction is still
    // open and refuses every BEGIN from then on. Such a connection is closed, not
    // used: otherwise writes would keep failing after the disk has room again.
    for _ in 0..=pool.options().get_max_connections() {
        let mut connection = pool.acquire().await?;
        if sqlx::Connection::is_in_transaction(&*connection) {
            tracing::warn!("closing a SQLite connection whose transaction SQLite ended");
            connection.close_on_drop();
            continue;
        }
        return Ok(connection);
    }
    Err(sqlx::Error::PoolTimedOut)
}

/// Runs `statements`, a whole write transaction (`BEGIN IMMEDIATE; …; COMMIT`), in one
/// hand-off to the SQLite thread of a connection: a transaction through [`SqliteWrite`]
/// takes one per statement, two context switches each. Returns the rows the
/// statements return, together (not the rows they changed: SQLite counts again, for
/// `BEGIN` and `COMMIT`, the changes of the statement before them, even of an earlier
/// transaction). On an error the transaction is rolled back. Not to be cancelled
/// half-way (see [`SqliteWriter::run`]): the transaction would stay open on a
/// connection back in the pool.
pub(crate) async fn write_at_once(
    pool: &SqlitePool,
    _turn: &WriterTurn,
    statements: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
) -> sqlx::Result<Vec<sqlx::sqlite::SqliteRow>> {
    let mut connection = usable_connection(pool).await?;
    // fetch_all, not fetch_optional: a fetch that stops at its first row would leave
    // the statements after it, COMMIT among them, unrun.
    let done = statements.fetch_all(&mut *connection).await;
    if done.is_err() {
        // The transaction may be open (a statement after BEGIN failed) or not (BEGIN
        // failed, or SQLite rolled back by itself): if ROLLBACK fails, the connection
        // goes.
        if sqlx::raw_sql("ROLLBACK")
            .execute(&mut *connection)
            .await
            .is_err()
        {
            connection.close_on_drop();
        }
    }
    done
}

impl BeginWrite for PgPool {
    type Write = sqlx::Transaction<'static, sqlx::Postgres>;

    async fn begin_write(&self) -> sqlx::Result<Self::Write> {
        self.begin().await
    }
}

/// Whether the SQLite database behind `pool` takes writes: a table created in a
/// transaction rolled back, which changes nothing (a read-only file takes a `BEGIN
/// IMMEDIATE`, and refuses only the first page written).
async fn can_write(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut connection = pool.acquire().await?;
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await?;
    let written = sqlx::raw_sql("CREATE TABLE tessera_write_probe (x INTEGER)")
        .execute(&mut *connection)
        .await;
    let rolled_back = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
    if written.is_err() || rolled_back.is_err() {
        // Not back in the pool: its transaction may still be open.
        connection.close_on_drop();
    }
    written?;
    rolled_back?;
    Ok(())
}

fn cannot_write(database: &std::path::Path) -> String {
    format!(
        "cannot write the SQLite database {} (check that the file and its folder are \
         writable by this user and the disk is not read-only)",
        database.display()
    )
}

/// An exclusive lock on `<database>.lock`, held while a process opens or migrates a
/// SQLite database; released on drop.
struct StartupLock(std::fs::File);

impl StartupLock {
    async fn acquire(database: &std::path::Path) -> anyhow::Result<Self> {
        let path = format!("{}.lock", database.display());
        let database = database.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open its lock file {path}"))
                .with_context(|| cannot_write(&database))?;
            file.lock().with_context(|| format!("cannot lock {path}"))?;
            Ok(StartupLock(file))
        })
        .await?
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Whether a store error means the database cannot be reached or take writes now (an
/// exhausted or closed pool, a broken connection, a full disk): worth a retry, unlike a
/// failed query.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)) => true,
            Some(sqlx::Error::Database(error)) => is_out_of_space(error.as_ref()),
            _ => false,
        })
}

/// A write refused for want of disk space: SQLite's `SQLITE_FULL` (13), PostgreSQL's
/// `disk_full` (53100). Nothing was written; once there is room again, writes work.
pub(crate) fn is_out_of_space(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(error.code().as_deref(), Some("13" | "53100"))
}

/// Unix milliseconds, the storage form of every instant.
pub fn to_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(millis: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_sqlite_connection_gets_the_configured_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: SecretString::from(format!("sqlite://{}/t.db", dir.path().display())),
            max_connections: 2,
            acquire_timeout_seconds: 5,
            migrate_on_start: false,
            sqlite_cache_kib: 512,
        };
        let Store::Sqlite(pool) = Store::connect(&settings).await.unwrap() else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        // Two connections held at once: the pool opened both with the options.
        let mut first = pool.acquire().await.unwrap();
        let mut second = pool.acquire().await.unwrap();
        for connection in [&mut first, &mut second] {
            let (size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
                .fetch_one(&mut **connection)
                .await
                .unwrap();
            assert_eq!(size, -512, "a negative cache_size is in KiB");
        }
    }
}
