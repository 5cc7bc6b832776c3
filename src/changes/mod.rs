//! The cross-process change feed: keeps every process's memory (cached clients, the
//! signing keys, the deny-lists of revoked access tokens and of ended sessions,
//! revoked tenant admin tokens, sessions' tenants and tenants' idle timeouts) in step
//! with the database.
//!
//! Each change other processes must apply is a typed [`Change`] (a plain value the store
//! defines, since the writes record it), stored as a row of the `changes` table in the
//! same transaction as the change itself, numbered by a sequence the database assigns.
//! Every `oauth.sync_interval_millis` (250 ms) each process reads the rows it has not
//! read yet by `seq` (see below): no wall clock is involved in what is read, so hosts
//! with skewed clocks miss nothing, and a poll that fails just retries from the same
//! place. On start a process notes where the feed stands, then loads its state.
//!
//! Sequence order need not be commit order. SQLite has one writer at a time, so there
//! it is; on PostgreSQL a number is drawn at insert and transactions commit in any
//! order, so a poll may read 12 while 11 is still committing (or will never be: its
//! transaction rolled back). Each process therefore keeps its [`Position`]: the newest
//! number read, and the gaps below it. Each poll reads the rows after the newest (a
//! bounded batch) and, separately, those that have appeared in the gaps; a gap still
//! empty after [`plan::GAP_TIMEOUT`] (30 s) is given up. The window is short in
//! practice: client, secret and user changes are recorded by deferred triggers, which
//! draw their number at commit, and the store writes the others as the last statement
//! of their transaction. (Until issue 9 every insert took one advisory lock held to
//! its commit, so that sequence order was commit order; every writer that recorded a
//! change then committed one at a time, which capped client creation on PostgreSQL.)
//!
//! Rows after a gap are applied at once, so the order in which a process applies
//! changes is not the order they were made in. That is safe because every change is
//! an invalidation or an addition that commutes with the others ([`ChangeFeed::apply`]):
//! `Client`, `SessionSwitched` and `IdleTimeout` drop a cached entry, which is then read
//! again from the database (already committed, since the row is visible); `Key`
//! reloads the keys from the database, whatever the order; `RevokedToken`,
//! `TenantTokenChainRevoked` and `SessionEnded` add to a deny-list, keeping the later
//! of two expiries; `TenantTokensRevoked` keeps the later of two cut-offs; `User` does
//! nothing of its own. Applying one twice is harmless too, though the position makes
//! each apply once. Client, secret and user changes are recorded by (deferred)
//! triggers, so no write path can forget them; the rest are written explicitly by the
//! store.
//!
//! The process that makes a change applies it to its own memory after the commit,
//! before it answers ([`ChangeFeed::committed`]), so its own changes take effect at
//! once.
//!
//! Housekeeping (every minute) purges rows older than an hour, always keeping the
//! newest; a process whose first number not yet read is older than the oldest row
//! left was away too long (or its writers' clocks disagree widely) and rebuilds: it drops every cached client and reloads the keys and the
//! revocation lists; so does one with more than [`plan::MAX_GAPS`] gaps open. The former
//! per-minute reload of the deny-list is gone: with the gaps read again and this
//! rebuild, no revocation can be skipped (short of a transaction that takes longer
//! than the gap timeout between drawing its number and committing). The
//! client cache's one-minute re-read (in [`ClientAuthenticator`]) no longer guards
//! against skew or late commits either; it stays there only as a bound on staleness
//! should a bug ever lose an event, and is the authenticator's to keep or drop.

mod freshness;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

pub use crate::store::{Change, ChangeRow, Gap};
pub use freshness::{Freshness, FRESHNESS_SLACK, POLL_DEADLINE};
pub use plan::{plan, Position, Step};

use crate::clients::ClientAuthenticator;
use crate::ids::TenantId;
use crate::keys::KeyService;
use crate::oauth::OAuthServer;
use crate::store::{from_millis, Store};
use crate::tokens::tenant_admin::TenantTokenRevocations;
use crate::tokens::{DenyList, SessionStates};

/// Rows read per poll after the newest read; more wait for the next.
const BATCH: u32 = 1000;
/// How far below the newest number a starting process looks for numbers still
/// committing.
const START_WINDOW: i64 = BATCH as i64;

/// What the feed keeps current, in this process.
pub struct FeedTargets {
    pub clients: Arc<ClientAuthenticator>,
    pub keys: Arc<KeyService>,
    pub deny_list: Arc<DenyList>,
    pub tenant_tokens: Arc<TenantTokenRevocations>,
    /// `admin.tenant_token_max_lifetime_seconds`: how long a tenant cut-off matters.
    pub tenant_token_max_lifetime: chrono::Duration,
    /// Ended sessions, whose access tokens are refused.
    pub ended_sessions: Arc<DenyList>,
    /// Sessions' state and tenants' idle timeouts, as the verifier reads them.
    pub sessions: Arc<SessionStates>,
    /// How long after a session ends one of its access tokens could still be
    /// unexpired: the longest access token lifetime, and the clock-skew leeway.
    pub session_token_horizon: chrono::Duration,
    /// `tokens.refresh_grace_seconds`: how long a sealed successor is kept.
    pub refresh_grace: chrono::Duration,
    /// Marked at each successful poll, lost at each failed one.
    pub freshness: Arc<Freshness>,
}

pub struct ChangeFeed {
    store: Store,
    targets: FeedTargets,
    state: Mutex<FeedState>,
    /// A copy of where the feed stands, readable without waiting for a poll.
    progress: std::sync::Mutex<Progress>,
}

/// Where this process stands in the feed (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The newest sequence number applied (some below it may still be awaited).
    pub last_seen: i64,
    /// When a poll last succeeded (or the feed started).
    pub last_success: DateTime<Utc>,
}

struct FeedState {
    position: Position,
    last_housekeeping: DateTime<Utc>,
}

impl ChangeFeed {
    /// Notes where the feed stands (numbers missing just below the newest may still be
    /// committing: they are awaited as gaps), then loads the keys again (they were
    /// loaded before this point) and the revocation lists: a change committed in
    /// between is both loaded and applied, which is harmless.
    pub async fn start(
        store: Store,
        targets: FeedTargets,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Arc<Self>> {
        let bounds = store.change_feed_bounds().await?;
        let from = match (bounds.oldest, bounds.newest) {
            (Some(oldest), Some(newest)) => (newest - START_WINDOW).max(oldest - 1),
            _ => 0,
        };
        let present: Vec<i64> = store
            .changes_after(from, BATCH)
            .await?
            .iter()
            .map(|row| row.seq)
            .collect();
        let position = Position::starting(from, &present, now);
        let last_seen = position.max_seen();
        let feed = ChangeFeed {
            store,
            targets,
            state: Mutex::new(FeedState {
                position,
                last_housekeeping: now,
            }),
            progress: std::sync::Mutex::new(Progress {
                last_seen,
                last_success: now,
            }),
        };
        feed.targets.keys.reload(now).await?;
        feed.load_revocations(now).await?;
        Ok(Arc::new(feed))
    }

    /// Applies one change to this process's memory: what a service calls after its own
    /// commit, and what a poll does for each row.
    pub async fn apply(&self, change: &Change, now: DateTime<Utc>) -> anyhow::Result<()> {
        let targets = &self.targets;
        match change {
            Change::Client(id) => targets.clients.forget(id.as_str()),
            Change::Key => targets.keys.reload(now).await?,
            Change::RevokedToken {
                jti,
                expires_at_millis,
            } => targets.deny_list.deny(jti, expires_at_millis / 1000),
            Change::TenantTokensRevoked {
                tenant,
                not_before_millis,
            } => targets.tenant_tokens.cut_off(tenant, *not_before_millis),
            Change::TenantTokenChainRevoked {
                chain_id,
                expires_at_millis,
            } => targets
                .tenant_tokens
                .revoke_chain(chain_id, *expires_at_millis),
            // A user's sessions are ended in the transaction that changed the user, each
            // with a change of its own: nothing more to do for the user itself.
            Change::User(_) => {}
            Change::SessionEnded {
                session,
                ended_at_millis,
            } => {
                let until = from_millis(*ended_at_millis) + targets.session_token_horizon;
                targets
                    .ended_sessions
                    .deny(session.as_str(), until.timestamp());
                targets.sessions.forget(session.as_str());
            }
            Change::SessionSwitched(session) => targets.sessions.forget(session.as_str()),
            Change::IdleTimeout(tenant) => targets.sessions.forget_policy(tenant.as_str()),
        }
        Ok(())
    }

    /// What a service calls after committing `change`, before it answers: catches up
    /// with the feed, which now holds `change`, so this process applies it once (not
    /// again at the next poll, which would drop a client's cache twice). If the feed
    /// cannot be read, applies `change` alone; the poll brings the rest.
    pub async fn committed(&self, change: &Change, now: DateTime<Utc>) {
        let outcome = match self.poll(now).await {
            Ok(()) => Ok(()),
            Err(_) => self.apply(change, now).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot apply a change locally"
            );
        }
    }

    /// What the tenant service calls after deleting a tenant: its clients went through
    /// foreign keys, and the feed holds a change for each; if it cannot be read, every
    /// cached client is dropped instead.
    pub async fn tenant_deleted(&self, now: DateTime<Utc>) {
        if let Err(error) = self.poll(now).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot apply a change locally"
            );
            self.targets.clients.forget_all();
        }
    }

    /// Whether this process's memory is known to be current.
    pub fn freshness(&self) -> &Freshness {
        &self.targets.freshness
    }

    /// Where this process stands in the feed.
    pub fn progress(&self) -> Progress {
        *self.progress.lock().expect("not poisoned")
    }

    /// Applies every change committed since the last poll; whether that worked is what
    /// [`Freshness`] knows.
    pub async fn poll(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let polled = self.poll_once(now).await;
        match &polled {
            Ok(()) => self.targets.freshness.read_now(),
            Err(_) => self.targets.freshness.lost(),
        }
        polled
    }

    async fn poll_once(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let bounds = self.store.change_feed_bounds().await?;
        let batch = self
            .store
            .changes_to_read(state.position.max_seen(), &state.position.gaps(), BATCH)
            .await?;
        match plan(&state.position, bounds, batch, now) {
            Step::Apply { changes, position } => {
                // Several key changes in one batch need one reload.
                let mut keys_changed = false;
                for change in &changes {
                    match change {
                        Change::Key => keys_changed = true,
                        change => self.apply(change, now).await?,
                    }
                }
                if keys_changed {
                    self.apply(&Change::Key, now).await?;
                }
                state.position = position;
            }
            Step::Resync { position } => {
                self.targets.clients.forget_all();
                self.targets.sessions.forget_all();
                self.targets.keys.reload(now).await?;
                self.load_revocations(now).await?;
                state.position = position;
                tracing::warn!("fell behind the change feed; caches rebuilt");
            }
        }
        *self.progress.lock().expect("not poisoned") = Progress {
            last_seen: state.position.max_seen(),
            last_success: now,
        };
        Ok(())
    }

    async fn load_revocations(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let now_millis = now.timestamp_millis();
        for (jti, expires_at) in self
            .store
            .revoked_tokens(now_millis)
            .await
            .context("cannot load the revoked tokens")?
        {
            self.targets.deny_list.deny(&jti, expires_at / 1000);
        }
        let tenant_tokens = self
            .store
            .tenant_token_revocations(now_millis)
            .await
            .context("cannot load the revoked tenant admin tokens")?;
        for (chain_id, ends_at) in tenant_tokens.chains {
            self.targets.tenant_tokens.revoke_chain(&chain_id, ends_at);
        }
        for (tenant, not_before) in tenant_tokens.cutoffs {
            let tenant = TenantId::parse(&tenant).map_err(anyhow::Error::msg)?;
            self.targets.tenant_tokens.cut_off(&tenant, not_before);
        }
        let horizon = self.targets.session_token_horizon;
        for (session, ended_at) in self
            .store
            .ended_sessions((now - horizon).timestamp_millis())
            .await
            .context("cannot load the ended sessions")?
        {
            let until = from_millis(ended_at) + horizon;
            self.targets
                .ended_sessions
                .deny(&session, until.timestamp());
        }
        Ok(())
    }

    /// Deletes what no process needs any more; forgets idle rate-limit buckets.
    async fn housekeeping(&self, oauth: &OAuthServer, now: DateTime<Utc>) -> anyhow::Result<()> {
        {
            let mut state = self.state.lock().await;
            if !plan::housekeeping_due(state.last_housekeeping, now) {
                return Ok(());
            }
            state.last_housekeeping = now;
        }
        let max_lifetime = self.targets.tenant_token_max_lifetime;
        self.targets.deny_list.purge(now.timestamp());
        self.targets.ended_sessions.purge(now.timestamp());
        self.targets.tenant_tokens.purge(now, max_lifetime);
        oauth.forget_idle_limits();
        let now_millis = now.timestamp_millis();
        self.store.purge_revoked_tokens(now_millis).await?;
        self.store
            .purge_tenant_token_revocations(now_millis)
            .await?;
        self.store
            .purge_sessions(
                (now - self.targets.refresh_grace).timestamp_millis(),
                now_millis,
                (now - self.targets.session_token_horizon).timestamp_millis(),
            )
            .await?;
        self.store
            .purge_changes(plan::purge_before(now).timestamp_millis())
            .await
    }
}

/// How long a late poll may still take before it is abandoned.
const POLL_ABANDONED_AFTER: Duration = Duration::from_secs(30);

/// Polls every `every` until aborted; a poll late by [`POLL_DEADLINE`] makes memory
/// stale until one succeeds.
pub fn spawn(
    feed: Arc<ChangeFeed>,
    oauth: Arc<OAuthServer>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = Utc::now();
            // A poll stuck waiting for the database counts as failed once it is late, and
            // goes on: it marks memory current again if it does succeed in the end.
            let poll = feed.poll(now);
            tokio::pin!(poll);
            let polled = tokio::select! {
                polled = &mut poll => polled,
                () = tokio::time::sleep(POLL_DEADLINE) => {
                    feed.freshness().lost();
                    // A query that never returns (packets dropped, not refused) would
                    // stop the feed, and hold its lock against every writer: abandon it
                    // (dropping it closes its connection) and try again.
                    tokio::time::timeout(POLL_ABANDONED_AFTER, poll)
                        .await
                        .unwrap_or_else(|_| {
                            Err(anyhow::anyhow!(
                                "no answer within {POLL_ABANDONED_AFTER:?}; polling again"
                            ))
                        })
                }
            };
            if let Err(error) = polled {
                tracing::warn!(error = format!("{error:#}"), "cannot poll the change feed");
            }
            if let Err(error) = feed.housekeeping(&oauth, now).await {
                tracing::warn!(error = format!("{error:#}"), "housekeeping failed");
            }
        }
    })
}
