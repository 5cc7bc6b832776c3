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
pub use sessions::{PresentedRows, RefreshTokenRecord, SessionFilter, SessionRecord};
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
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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
                .foreign_keys(true);
            if let Some(folder) = options.get_filename().parent() {
                if !folder.as_os_str().is_empty() {
                    std::fs::create_dir_all(folder).with_context(|| {
                        format!("cannot create the database folder {}", folder.display())
                    })?;
                }
            }
            // Switching a new database to WAL needs the file to itself: processes starting
            // together on one file take turns.
            let _turn = StartupLock::acquire(options.get_filename()).await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .context("cannot open the SQLite database")?;
            Ok(Store::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
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

static SQLITE_WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// A SQLite write transaction holding this process's writer turn until it ends.
/// Dereferences to the connection, like `sqlx::Transaction`.
pub struct SqliteWrite {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
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
        let file = self.connect_options().get_filename().to_path_buf();
        let queue = SQLITE_WRITERS
            .lock()
            .expect("not poisoned")
            .entry(file)
            .or_default()
            .clone();
        // As long as SQLite's own busy timeout: a turn that never comes is an error, not a
        // hang.
        let turn = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, queue.lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        let tx = self.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteWrite { tx, _turn: turn })
    }
}

impl BeginWrite for PgPool {
    type Write = sqlx::Transaction<'static, sqlx::Postgres>;

    async fn begin_write(&self) -> sqlx::Result<Self::Write> {
        self.begin().await
    }
}

/// An exclusive lock on `<database>.lock`, held while a process opens or migrates a
/// SQLite database; released on drop.
struct StartupLock(std::fs::File);

impl StartupLock {
    async fn acquire(database: &std::path::Path) -> anyhow::Result<Self> {
        let path = format!("{}.lock", database.display());
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open {path}"))?;
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

/// Whether a store error means the database cannot be reached now (an exhausted or
/// closed pool, a broken connection): worth a retry, unlike a failed query.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
        )
    })
}

/// Unix milliseconds, the storage form of every instant.
pub fn to_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(millis: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}
