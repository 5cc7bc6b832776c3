//! Keeps every process's memory in step with the database: what it caches about
//! clients and its deny-list of revoked tokens.
//!
//! Each process polls two small feeds every `oauth.sync_interval_millis` (250 ms by
//! default): `client_changes`, written by database triggers on every change to a client
//! or its secrets, and `revoked_tokens`. Polling works the same on SQLite and
//! PostgreSQL and needs no connection held open. A process also polls at once after
//! each change it makes itself, before answering, so its own changes take effect
//! immediately.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::clients::ClientAuthenticator;
use crate::oauth::OAuthServer;
use crate::store::Store;
use crate::tokens::DenyList;

/// Each poll reads back this far, so a change whose transaction committed late (or a
/// database clock a little behind) is still seen; entries already applied are skipped.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);
/// How long the change feed keeps its rows.
const FEED_RETENTION: chrono::Duration = chrono::Duration::hours(1);
const HOUSEKEEPING_EVERY: chrono::Duration = chrono::Duration::minutes(1);

pub struct Sync {
    store: Store,
    clients: Arc<ClientAuthenticator>,
    deny_list: Arc<DenyList>,
    state: Mutex<PollState>,
}

struct PollState {
    last_success: Option<DateTime<Utc>>,
    last_housekeeping: DateTime<Utc>,
    /// Change ids already applied, with when they were seen, for the overlap.
    applied: HashMap<i64, DateTime<Utc>>,
}

impl Sync {
    /// Loads the deny-list, then is ready to poll.
    pub async fn start(
        store: Store,
        clients: Arc<ClientAuthenticator>,
        deny_list: Arc<DenyList>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Arc<Self>> {
        for (jti, expires_at) in store
            .revoked_tokens_since(0, now.timestamp_millis())
            .await?
        {
            deny_list.deny(&jti, expires_at / 1000);
        }
        Ok(Arc::new(Sync {
            store,
            clients,
            deny_list,
            state: Mutex::new(PollState {
                last_success: Some(now),
                last_housekeeping: now,
                applied: HashMap::new(),
            }),
        }))
    }

    /// Applies every change recorded since the last poll (minus the overlap).
    pub async fn poll(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        let Some(last_success) = state.last_success else {
            // The previous poll failed; what happened meanwhile may be older than the
            // overlap, so start from nothing.
            return self.resync(&mut state, now).await;
        };
        let since = (last_success - OVERLAP).timestamp_millis();
        let outcome = self.apply_since(&mut state, since, now).await;
        state.last_success = outcome.is_ok().then_some(now);
        outcome
    }

    async fn resync(&self, state: &mut PollState, now: DateTime<Utc>) -> anyhow::Result<()> {
        let since = (now - OVERLAP).timestamp_millis();
        self.apply_since(state, since, now).await?;
        self.clients.forget_all();
        for (jti, expires_at) in self
            .store
            .revoked_tokens_since(0, now.timestamp_millis())
            .await?
        {
            self.deny_list.deny(&jti, expires_at / 1000);
        }
        state.last_success = Some(now);
        tracing::info!("caches rebuilt after the database came back");
        Ok(())
    }

    async fn apply_since(
        &self,
        state: &mut PollState,
        since: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for (id, client_id) in self.store.client_changes_since(since).await? {
            if state.applied.insert(id, now).is_none() {
                self.clients.forget(&client_id);
            }
        }
        for (jti, expires_at) in self
            .store
            .revoked_tokens_since(since, now.timestamp_millis())
            .await?
        {
            self.deny_list.deny(&jti, expires_at / 1000);
        }
        state.applied.retain(|_, seen| now - *seen <= OVERLAP * 2);
        Ok(())
    }

    /// Deletes what no process needs any more; forgets idle rate-limit buckets.
    async fn housekeeping(&self, oauth: &OAuthServer, now: DateTime<Utc>) -> anyhow::Result<()> {
        {
            let mut state = self.state.lock().await;
            if now - state.last_housekeeping < HOUSEKEEPING_EVERY {
                return Ok(());
            }
            state.last_housekeeping = now;
        }
        self.deny_list.purge(now.timestamp());
        // The whole deny-list again, as a safety net under the incremental polls.
        for (jti, expires_at) in self
            .store
            .revoked_tokens_since(0, now.timestamp_millis())
            .await?
        {
            self.deny_list.deny(&jti, expires_at / 1000);
        }
        oauth.forget_idle_limits();
        self.store
            .purge_revoked_tokens(now.timestamp_millis())
            .await?;
        self.store
            .purge_client_changes((now - FEED_RETENTION).timestamp_millis())
            .await
    }
}

/// Polls every `every` until aborted.
pub fn spawn(
    sync: Arc<Sync>,
    oauth: Arc<OAuthServer>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = Utc::now();
            if let Err(error) = sync.poll(now).await {
                tracing::warn!(error = format!("{error:#}"), "cannot poll for changes");
                sync.state.lock().await.last_success = None;
            }
            if let Err(error) = sync.housekeeping(&oauth, now).await {
                tracing::warn!(error = format!("{error:#}"), "housekeeping failed");
            }
        }
    })
}
