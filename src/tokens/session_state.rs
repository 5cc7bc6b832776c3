//! What each process knows of users' sessions when it validates their access tokens:
//! whether the session goes on, which tenant it is in now, and — where the tenant has an
//! idle token timeout (seed 003) — whether it has been idle too long.
//!
//! No row per access token and no write per request: a token names its session (`sid`);
//! [`SessionStates`] caches each session's row (one read per session per process) and
//! each tenant's timeout, and the change feed drops what changed (a switch, a new
//! timeout) within one poll; ended sessions are on the verifier's deny-list.
//!
//! **Idle tracking.** A use of a session's token is noted in memory at once, and written
//! (`sessions.last_active_at`) at most once per [`recording_step`] of the tenant's
//! timeout per session, in batches flushed every `oauth.sync_interval_millis` (≤ 1 s).
//! Another process may thus see a session's last activity up to one step plus one
//! second late; so that no process ever ends a session still in use elsewhere, a session
//! dies only once [`idle_expires_at`] — its last known activity plus the timeout plus
//! that step and a second — has passed. A session therefore dies between `timeout + 1 s`
//! and `timeout + step + 1 s` after its last use. Before ending one, a process reads the
//! row again, and the first that finds it idle ends it (`end_reason = idle_timeout`),
//! which every process then learns from the feed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};

use super::AccessClaims;
use crate::metrics::{CacheCounters, Metrics};
use crate::store::{from_millis, IdleTimeoutRecord, SessionFilter, SessionRecord, Store};

/// The longest gap between writes of one session's activity.
const MAX_RECORDING_STEP: Duration = Duration::seconds(60);
/// How long a write of activity may take to reach the database after its use: the flush
/// interval (`oauth.sync_interval_millis`, at most 1 s).
pub const FLUSH_SLACK: Duration = Duration::seconds(1);
/// Sessions whose state one process keeps; past it, the least used are read again.
const CACHED_SESSIONS: u64 = 100_000;

/// How often at most a session's activity is written under `timeout`: a tenth of it, at
/// most a minute.
pub fn recording_step(timeout: Duration) -> Duration {
    (timeout / 10).min(MAX_RECORDING_STEP)
}

/// When a session whose last known activity was at `last_active` dies of idleness
/// under `timeout`, unless it is used again before.
pub fn idle_expires_at(last_active: DateTime<Utc>, timeout: Duration) -> DateTime<Utc> {
    last_active + timeout + recording_step(timeout) + FLUSH_SLACK
}

/// The idle rule: at `now`, a session last active at `last_active` is dead under
/// `timeout`. The instant [`idle_expires_at`] itself belongs to death.
pub fn is_idle(last_active: DateTime<Utc>, timeout: Duration, now: DateTime<Utc>) -> bool {
    now >= idle_expires_at(last_active, timeout)
}

/// A tenant's idle timeout while it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    pub timeout: Duration,
    /// When it was turned on: idle time counts from then at the earliest.
    pub since: DateTime<Utc>,
}

impl IdlePolicy {
    pub fn of(record: &IdleTimeoutRecord) -> Option<Self> {
        record.enabled.then(|| IdlePolicy {
            timeout: Duration::seconds(record.timeout_seconds),
            since: from_millis(record.since),
        })
    }

    /// When a session last active at `last_active_millis` dies under this policy.
    pub fn expires_at(&self, last_active_millis: i64) -> DateTime<Utc> {
        idle_expires_at(
            from_millis(last_active_millis).max(self.since),
            self.timeout,
        )
    }

    pub fn is_idle(&self, last_active_millis: i64, now: DateTime<Utc>) -> bool {
        now >= self.expires_at(last_active_millis)
    }
}

/// Whether a use of a token counts as activity of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// It does (every use, by default).
    Touch,
    /// It does not: `?preserveIdleTTL=true`.
    Preserve,
}

/// Why a session's token is refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefusal {
    /// Unknown, ended, idle too long, or the token is of a tenant the session left.
    #[error("the session does not honour this token")]
    Refused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// One session as this process knows it.
#[derive(Debug)]
struct SessionView {
    tenant_id: String,
    /// Tokens issued (`iat`, Unix seconds) before this are void: the last switch.
    not_before: i64,
    ended: bool,
    /// The latest activity known here (Unix milliseconds).
    last_active: AtomicI64,
    /// The latest activity stored or queued for storing.
    recorded: AtomicI64,
}

impl SessionView {
    fn of(row: &SessionRecord) -> Self {
        SessionView {
            tenant_id: row.tenant_id.clone(),
            not_before: row.switched_at.map_or(i64::MIN, |at| at.div_euclid(1000)),
            ended: row.ended_at.is_some(),
            last_active: AtomicI64::new(row.last_active_at),
            recorded: AtomicI64::new(row.last_active_at),
        }
    }
}

/// The per-process cache of session state and tenants' idle timeouts, and the activity
/// waiting to be written.
pub struct SessionStates {
    store: Store,
    sessions: moka::sync::Cache<String, Arc<SessionView>>,
    /// Lookups of `sessions`: a miss is a database read.
    lookups: CacheCounters,
    policies: RwLock<HashMap<String, Option<IdlePolicy>>>,
    pending: Mutex<HashMap<String, i64>>,
    /// Bumped by every forget: a read that started before one is not cached, so a
    /// change applied while it was under way cannot be undone by it.
    epoch: AtomicU64,
}

impl SessionStates {
    pub fn new(store: Store, metrics: &Metrics) -> Self {
        SessionStates {
            store,
            sessions: moka::sync::Cache::new(CACHED_SESSIONS),
            lookups: metrics.cache("sessions"),
            policies: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether the session of the user token `claims` honours it at `now`, noting the
    /// use as activity unless `activity` says not to. Returns when the session dies of
    /// idleness (if its tenant has a timeout), as known now.
    pub async fn check(
        &self,
        claims: &AccessClaims,
        activity: Activity,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, SessionRefusal> {
        let sid = claims.sid.as_deref().ok_or(SessionRefusal::Refused)?;
        let view = self.view(sid).await?.ok_or(SessionRefusal::Refused)?;
        if view.ended || claims.tid != view.tenant_id || claims.iat < view.not_before {
            return Err(SessionRefusal::Refused);
        }
        let Some(policy) = self.policy(&view.tenant_id).await? else {
            return Ok(None);
        };
        if policy.is_idle(view.last_active.load(Ordering::Relaxed), now) {
            self.end_if_idle(sid, &view, &policy, now).await?;
        }
        if activity == Activity::Touch {
            self.touch(sid, &view, &policy, now);
        }
        Ok(Some(
            policy.expires_at(view.last_active.load(Ordering::Relaxed)),
        ))
    }

    /// The tenant's idle policy, read once per process until it changes.
    pub async fn policy(&self, tenant: &str) -> anyhow::Result<Option<IdlePolicy>> {
        if let Some(policy) = self.policies.read().expect("not poisoned").get(tenant) {
            return Ok(*policy);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let policy = self
            .store
            .idle_timeout(tenant)
            .await?
            .as_ref()
            .and_then(IdlePolicy::of);
        // Checked under the write lock, which `forget_policy` takes after moving the
        // epoch: a change either shows here, or removes this entry once it is in.
        let mut policies = self.policies.write().expect("not poisoned");
        if self.epoch.load(Ordering::Acquire) == epoch {
            policies.insert(tenant.to_owned(), policy);
        }
        Ok(policy)
    }

    async fn view(&self, sid: &str) -> anyhow::Result<Option<Arc<SessionView>>> {
        if let Some(view) = self.sessions.get(sid) {
            self.lookups.hit();
            return Ok(Some(view));
        }
        self.lookups.miss();
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(row) = self.store.session(sid).await? else {
            return Ok(None);
        };
        let view = Arc::new(SessionView::of(&row));
        // Insert, then look: a `forget` since the read either shows in the epoch (and
        // the possibly stale row goes again) or comes after the insert and removes it.
        // Checking first would leave a window between the check and the insert.
        self.sessions.insert(sid.to_owned(), view.clone());
        if self.epoch.load(Ordering::Acquire) != epoch {
            self.sessions.invalidate(sid);
        }
        Ok(Some(view))
    }

    /// Reads the session again (another process may have recorded activity); if it is
    /// idle all the same, ends it. Refused either way unless it turned out active.
    async fn end_if_idle(
        &self,
        sid: &str,
        view: &SessionView,
        policy: &IdlePolicy,
        now: DateTime<Utc>,
    ) -> Result<(), SessionRefusal> {
        let row = self
            .store
            .session(sid)
            .await?
            .ok_or(SessionRefusal::Refused)?;
        if row.ended_at.is_some() {
            self.forget(sid);
            return Err(SessionRefusal::Refused);
        }
        view.last_active
            .fetch_max(row.last_active_at, Ordering::Relaxed);
        view.recorded
            .fetch_max(row.last_active_at, Ordering::Relaxed);
        if !policy.is_idle(view.last_active.load(Ordering::Relaxed), now) {
            return Ok(());
        }
        let mut tx = self.store.begin_write().await?;
        let ended = Store::end_sessions(
            &mut tx,
            SessionFilter::One(sid),
            IDLE_TIMEOUT_REASON,
            now.timestamp_millis(),
        )
        .await?;
        tx.commit().await?;
        if !ended.is_empty() {
            tracing::info!(session_id = sid, "session ended: idle timeout");
        }
        self.forget(sid);
        Err(SessionRefusal::Refused)
    }

    fn touch(&self, sid: &str, view: &SessionView, policy: &IdlePolicy, now: DateTime<Utc>) {
        let now_millis = now.timestamp_millis();
        view.last_active.fetch_max(now_millis, Ordering::Relaxed);
        let step = recording_step(policy.timeout).num_milliseconds();
        let recorded = view.recorded.load(Ordering::Relaxed);
        if now_millis - recorded >= step
            && view
                .recorded
                .compare_exchange(recorded, now_millis, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let mut pending = self.pending.lock().expect("not poisoned");
            let at = pending.entry(sid.to_owned()).or_insert(now_millis);
            *at = (*at).max(now_millis);
        }
    }

    /// Writes the activity noted since the last flush; on failure keeps it for the next.
    pub async fn flush(&self) -> anyhow::Result<()> {
        // Cancel-safe, like the client uses' flush: a use leaves memory only once the
        // write carrying it has committed (the periodic task is aborted as the server
        // stops, maybe mid-write); writing one twice is harmless.
        let batch: Vec<(String, i64)> = self
            .pending
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(sid, at)| (sid.clone(), *at))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.store.record_activity(&batch).await?;
        let mut pending = self.pending.lock().expect("not poisoned");
        for (sid, written) in batch {
            if pending.get(&sid) == Some(&written) {
                pending.remove(&sid);
            }
        }
        Ok(())
    }

    /// The session changed (switched, ended): read it again when next needed.
    pub fn forget(&self, sid: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.sessions.invalidate(sid);
    }

    /// The tenant's idle timeout changed.
    pub fn forget_policy(&self, tenant: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.policies.write().expect("not poisoned").remove(tenant);
    }

    /// The feed fell behind: read everything again.
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.sessions.invalidate_all();
        self.policies.write().expect("not poisoned").clear();
    }
}

/// `end_reason` of a session that died of idleness (`sessions::EndReason::IdleTimeout`).
pub const IDLE_TIMEOUT_REASON: &str = "idle_timeout";

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_session_dies_one_step_and_a_second_after_its_timeout() {
        let timeout = Duration::seconds(300);
        assert_eq!(recording_step(timeout), Duration::seconds(30));
        // 300 + 30 + 1.
        assert!(!is_idle(at(0), timeout, at(330)));
        assert!(!is_idle(
            at(0),
            timeout,
            at(331) - Duration::milliseconds(1)
        ));
        assert!(is_idle(at(0), timeout, at(331)));
        assert!(is_idle(at(0), timeout, at(10_000)));
        assert_eq!(idle_expires_at(at(5), timeout), at(336));
    }

    #[test]
    fn the_step_is_a_tenth_of_the_timeout_and_at_most_a_minute() {
        assert_eq!(
            recording_step(Duration::seconds(2)),
            Duration::milliseconds(200)
        );
        assert_eq!(
            recording_step(Duration::seconds(2_592_000)),
            Duration::seconds(60)
        );
    }

    #[test]
    fn idle_time_counts_from_when_the_timeout_was_turned_on() {
        let policy = IdlePolicy {
            timeout: Duration::seconds(10),
            since: at(100),
        };
        // Last active long before: counts from `since`. 10 + 1 + 1.
        let long_ago = at(0).timestamp_millis();
        assert!(!policy.is_idle(long_ago, at(111)));
        assert!(policy.is_idle(long_ago, at(112)));
        // Active after: counts from the activity.
        let later = at(200).timestamp_millis();
        assert!(!policy.is_idle(later, at(211)));
        assert!(policy.is_idle(later, at(212)));
    }

    #[test]
    fn a_disabled_timeout_is_no_policy() {
        let record = IdleTimeoutRecord {
            tenant_id: "acme".into(),
            enabled: false,
            timeout_seconds: 600,
            since: 0,
            updated_at: 0,
        };
        assert_eq!(IdlePolicy::of(&record), None);
        let on = IdleTimeoutRecord {
            enabled: true,
            ..record
        };
        assert_eq!(
            IdlePolicy::of(&on),
            Some(IdlePolicy {
                timeout: Duration::seconds(600),
                since: from_millis(0),
            })
        );
    }
}
