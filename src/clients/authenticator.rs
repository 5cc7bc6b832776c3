//! Client authentication (RFC 6749 §2.3.1), the one place a presented secret is
//! checked, built for the token endpoint's hot path.
//!
//! Each process keeps clients and their secret hashes in memory, and remembers a
//! successful check under an HMAC of the client id and secret keyed with a random
//! per-process key (never the secret itself), so a warmed-up client costs no database
//! round trip and no argon2. [`ClientAuthenticator::forget`] drops what is known of a
//! client: at once in the process that changed it, and within
//! `oauth.sync_interval_millis` in the others (see [`crate::changes`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use ring::hmac;

use super::secrets::{verify_secret, ClientSecret, StoredSecret};
use super::{Client, ClientId};
use crate::access::TenantScope;
use crate::rate_limit::{FailureLimiter, RetryAfter};
use crate::store::Store;

/// `lastUsedAt` is written at most this often per secret.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);
/// Where failed attempts with unknown client ids are counted: one bucket for all, so
/// inventing ids cannot grow memory.
const UNKNOWN_CLIENT: &str = "";
/// A cached client is read again after this long, whatever the change feed said: a
/// safety net should a change ever be missed (a clock far off, a stalled commit).
const RELOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// Unknown ids remembered at most; past it the list starts over.
const MAX_ABSENT_IDS: usize = 10_000;

/// A client that proved it holds one of its secrets.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    /// The id of the secret it presented.
    pub secret_id: i64,
    /// This check went to argon2 and the secret's `lastUsedAt` is due an update, which
    /// [`ClientAuthenticator::record_use`] makes once the request has succeeded.
    last_used_due: bool,
}

/// Why authentication failed. Unknown client, wrong, expired or deleted secret and
/// disabled client are one answer on purpose (RFC 6749 §5.2 `invalid_client`).
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("invalid client credentials")]
    InvalidClient,
    /// Too many failed attempts for this client id; no secret check was made.
    #[error("too many failed attempts")]
    RateLimited(RetryAfter),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A client as stored, with its secrets' hashes.
#[derive(Debug)]
struct KnownClient {
    client: Arc<Client>,
    secrets: Vec<StoredSecret>,
    loaded: std::time::Instant,
}

/// HMAC-SHA256 of client id and secret under the per-process key.
type CheckTag = [u8; 32];

#[derive(Debug, Clone)]
struct RememberedCheck {
    client_id: String,
    secret_id: i64,
    checked_at: DateTime<Utc>,
    /// `lastUsedAt` still needs writing (the first request with it was refused).
    last_used_due: bool,
}

pub struct ClientAuthenticator {
    store: Store,
    clients: RwLock<HashMap<String, Arc<KnownClient>>>,
    /// Ids looked up and found not to exist.
    absent: RwLock<HashSet<String>>,
    checks: RwLock<HashMap<CheckTag, RememberedCheck>>,
    check_key: hmac::Key,
    check_ttl: Duration,
    max_clients: usize,
    failures: FailureLimiter,
    flights: Flights,
    /// Counts the forgets: a client read from the database before a forget may predate
    /// the change that caused it, so it is used once but not cached.
    forgets: AtomicU64,
}

impl ClientAuthenticator {
    pub fn new(
        store: Store,
        failures: FailureLimiter,
        check_ttl: Duration,
        max_clients: usize,
    ) -> Self {
        let rng = ring::rand::SystemRandom::new();
        ClientAuthenticator {
            store,
            clients: RwLock::new(HashMap::new()),
            absent: RwLock::new(HashSet::new()),
            flights: Flights::default(),
            checks: RwLock::new(HashMap::new()),
            check_key: hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("OS randomness"),
            check_ttl,
            max_clients,
            failures,
            forgets: AtomicU64::new(0),
        }
    }

    /// Any live secret of an enabled client authenticates it. A remembered check costs
    /// an HMAC. Otherwise one argon2 verification runs whatever the outcome (against a
    /// dummy hash when nothing could match), unless the client id has failed too often,
    /// in which case nothing is checked.
    pub async fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
        now: DateTime<Utc>,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let known = self.known_client(client_id).await?;
        let tag = self.check_tag(client_id, presented);
        let remembered = || {
            known
                .as_ref()
                .and_then(|known| self.remembered(known, &tag, now))
        };
        if let Some(done) = remembered() {
            return Ok(done);
        }
        // One uncached check per client id at a time: concurrent first requests of a
        // client wait for the first check and then find it remembered, and every failed
        // guess is counted before the next one is judged.
        let limiter_key = if known.is_some() {
            client_id
        } else {
            UNKNOWN_CLIENT
        };
        let flight = self.flights.join(limiter_key);
        let _turn = flight.lock().await;
        if let Some(done) = remembered() {
            return Ok(done);
        }
        self.failures
            .check(limiter_key)
            .map_err(ClientAuthError::RateLimited)?;

        let prefix = presented.display_prefix();
        let candidates: Vec<&StoredSecret> = known
            .iter()
            .flat_map(|known| known.secrets.iter())
            .filter(|secret| secret.display_prefix == prefix && secret.is_live(now))
            .collect();
        let mut matched = None;
        if candidates.is_empty() {
            verify_secret(presented, None).await?;
        }
        for candidate in candidates {
            if verify_secret(presented, Some(candidate.hash.clone())).await? {
                matched = Some(candidate);
                break;
            }
        }
        match (&known, matched) {
            (Some(known), Some(secret)) if known.client.settings.enabled => {
                let last_used_due = secret
                    .last_used_at
                    .is_none_or(|used| now - used >= LAST_USED_RESOLUTION);
                self.remember(tag, client_id, secret.id, last_used_due, now);
                Ok(AuthenticatedClient {
                    client: known.client.clone(),
                    secret_id: secret.id,
                    last_used_due,
                })
            }
            _ => {
                self.failures.record_failure(limiter_key);
                Err(ClientAuthError::InvalidClient)
            }
        }
    }

    /// Records the secret's `lastUsedAt` when due (once per check that went to argon2,
    /// at most once a minute per secret): called after the request succeeded, so a
    /// refused request writes nothing.
    pub async fn record_use(&self, authenticated: &AuthenticatedClient, now: DateTime<Utc>) {
        if !authenticated.last_used_due {
            return;
        }
        if let Err(error) = self.store.touch_secret(authenticated.secret_id, now).await {
            tracing::warn!(error = format!("{error:#}"), "cannot record lastUsedAt");
            return;
        }
        let mut checks = self.checks.write().expect("not poisoned");
        for check in checks.values_mut() {
            if check.secret_id == authenticated.secret_id {
                check.last_used_due = false;
            }
        }
    }

    /// The client, enabled or not, from memory or the database; `None` if absent.
    pub async fn client(&self, client_id: &str) -> anyhow::Result<Option<Arc<Client>>> {
        Ok(self
            .known_client(client_id)
            .await?
            .map(|known| known.client.clone()))
    }

    /// Drops everything remembered about `client_id`.
    pub fn forget(&self, client_id: &str) {
        let mut clients = self.clients.write().expect("not poisoned");
        self.forgets.fetch_add(1, Ordering::SeqCst);
        clients.remove(client_id);
        self.absent.write().expect("not poisoned").remove(client_id);
        drop(clients);
        self.checks
            .write()
            .expect("not poisoned")
            .retain(|_, check| check.client_id != client_id);
    }

    /// Drops everything (when this process may have missed changes).
    pub fn forget_all(&self) {
        let mut clients = self.clients.write().expect("not poisoned");
        self.forgets.fetch_add(1, Ordering::SeqCst);
        clients.clear();
        self.absent.write().expect("not poisoned").clear();
        drop(clients);
        self.checks.write().expect("not poisoned").clear();
    }

    pub fn forget_idle_failures(&self) {
        self.failures.forget_idle();
    }

    fn check_tag(&self, client_id: &str, presented: &ClientSecret) -> CheckTag {
        let mut context = hmac::Context::with_key(&self.check_key);
        context.update(client_id.as_bytes());
        context.update(&[0]);
        context.update(presented.expose().as_bytes());
        context
            .sign()
            .as_ref()
            .try_into()
            .expect("HMAC-SHA256 is 32 bytes")
    }

    fn remembered(
        &self,
        known: &KnownClient,
        tag: &CheckTag,
        now: DateTime<Utc>,
    ) -> Option<AuthenticatedClient> {
        let checks = self.checks.read().expect("not poisoned");
        let check = checks.get(tag)?;
        let secret = known
            .secrets
            .iter()
            .find(|secret| secret.id == check.secret_id)?;
        let fresh = now.signed_duration_since(check.checked_at) < self.check_ttl;
        (fresh && secret.is_live(now) && known.client.settings.enabled).then(|| {
            AuthenticatedClient {
                client: known.client.clone(),
                secret_id: secret.id,
                last_used_due: check.last_used_due,
            }
        })
    }

    fn remember(
        &self,
        tag: CheckTag,
        client_id: &str,
        secret_id: i64,
        last_used_due: bool,
        now: DateTime<Utc>,
    ) {
        let mut checks = self.checks.write().expect("not poisoned");
        if checks.len() >= self.max_clients {
            checks.clear();
        }
        checks.insert(
            tag,
            RememberedCheck {
                client_id: client_id.to_owned(),
                secret_id,
                checked_at: now,
                last_used_due,
            },
        );
    }

    async fn known_client(&self, client_id: &str) -> anyhow::Result<Option<Arc<KnownClient>>> {
        if let Some(known) = self.clients.read().expect("not poisoned").get(client_id) {
            if known.loaded.elapsed() < RELOAD_AFTER {
                return Ok(Some(known.clone()));
            }
        }
        if self
            .absent
            .read()
            .expect("not poisoned")
            .contains(client_id)
        {
            return Ok(None);
        }
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        let forgets_before = self.forgets.load(Ordering::SeqCst);
        let loaded = match self.store.client(&id, &TenantScope::All).await? {
            Some(client) => {
                let secrets = self.store.client_secrets(&client.id).await?;
                Some(Arc::new(KnownClient {
                    client: Arc::new(client),
                    secrets,
                    loaded: std::time::Instant::now(),
                }))
            }
            None => None,
        };
        let mut clients = self.clients.write().expect("not poisoned");
        if self.forgets.load(Ordering::SeqCst) != forgets_before {
            return Ok(loaded);
        }
        match &loaded {
            Some(known) => {
                if clients.len() >= self.max_clients {
                    clients.clear();
                }
                clients.insert(client_id.to_owned(), known.clone());
            }
            None => {
                // Unknown ids are remembered apart, so inventing ids cannot push real
                // clients out of memory.
                let mut absent = self.absent.write().expect("not poisoned");
                if absent.len() >= MAX_ABSENT_IDS {
                    absent.clear();
                }
                absent.insert(client_id.to_owned());
            }
        }
        Ok(loaded)
    }
}

/// Secret checks in progress, one lock per client id (unknown ids share one). An entry
/// lives while someone holds or awaits it.
#[derive(Default)]
struct Flights {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A place in the queue of one client id; the last to leave removes the entry.
struct Flight<'a> {
    flights: &'a Flights,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Flights {
    fn join(&self, key: &str) -> Flight<'_> {
        let lock = self
            .locks
            .lock()
            .expect("not poisoned")
            .entry(key.to_owned())
            .or_default()
            .clone();
        Flight {
            flights: self,
            key: key.to_owned(),
            lock,
        }
    }
}

impl Flight<'_> {
    async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut locks = self.flights.locks.lock().expect("not poisoned");
        // The map's reference and this one: nobody else is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}
