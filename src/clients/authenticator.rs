//! Client authentication (RFC 6749 §2.3.1), the one place a presented secret is
//! checked, built for the token endpoint's hot path.
//!
//! Each process keeps clients and their secrets' hashes in a bounded cache (`moka`), so
//! a warmed-up client costs no database round trip, and a secret check costs one HMAC,
//! cold or warm. Unknown client ids are remembered in a smaller cache of their own, so
//! inventing ids cannot evict real clients. [`ClientAuthenticator::forget`] drops what
//! is known of a client: at once in the process that changed it, and within
//! `oauth.sync_interval_millis` in the others (see [`crate::changes`]).
//!
//! Failed checks are limited per source address ([`FailureLimiter`]), never per client
//! id, so nobody can lock a client out by guessing at its id from elsewhere. An unknown
//! id is checked against nothing at the cost of one HMAC and answers what a wrong
//! secret answers. Successful uses are recorded in memory and written by
//! [`ClientAuthenticator::flush_uses`], one transaction per interval, so a request never
//! waits for a database write (but for the one-time upgrade of a legacy argon2 hash).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use super::record::{read_client, read_secrets};
use super::secrets::{ClientSecret, SecretCheck, SecretHasher, StoredSecret};
use super::{Client, ClientId, ClientType};
use crate::ids::TenantScope;
use crate::metrics::{CacheCounters, Metrics};
use crate::rate_limit::{FailureLimiter, RetryAfter};
use crate::store::Store;

/// A cached client is read again after this long, whatever the change feed said: a
/// bound on how stale a cached client can get should a process miss the feed for any
/// reason the feed itself cannot see (the feed's own rebuild covers purged rows).
const RELOAD_AFTER: Duration = Duration::from_secs(60);
/// Unknown ids remembered at most.
const MAX_ABSENT_IDS: u64 = 10_000;
/// How often recorded uses are written as `lastUsedAt`.
pub const LAST_USED_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// A client that proved it holds one of its secrets.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    /// The id of the secret it presented; `None` for a public client, which has none.
    pub secret_id: Option<i64>,
    /// The secret matched a legacy argon2id hash, to be replaced by its HMAC form
    /// once the request has succeeded.
    upgrade: Option<HashUpgrade>,
}

#[derive(Debug, Clone)]
struct HashUpgrade {
    legacy: String,
    upgraded: String,
}

/// Why authentication failed. Unknown client, wrong, expired or deleted secret and
/// disabled client are one answer on purpose (RFC 6749 §5.2 `invalid_client`).
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("invalid client credentials")]
    InvalidClient,
    /// Too many failed attempts from this source address; nothing was looked up.
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
}

pub struct ClientAuthenticator {
    store: Store,
    hasher: SecretHasher,
    clients: Cache<String, Arc<KnownClient>>,
    /// Ids looked up and found not to exist.
    absent: Cache<String, ()>,
    failures: FailureLimiter,
    /// Lookups of `clients`, and of `absent` after a miss there: one miss of each is
    /// one database read.
    client_lookups: CacheCounters,
    absent_lookups: CacheCounters,
    /// The latest successful use of each secret since the last flush.
    uses: Mutex<HashMap<i64, DateTime<Utc>>>,
    /// Counts the forgets: a client read from the database before a forget may predate
    /// the change that caused it, so it is used once but not cached. Loads compare and
    /// cache under this lock, forgets count and invalidate under it.
    forgets: Mutex<u64>,
}

impl ClientAuthenticator {
    pub fn new(
        store: Store,
        hasher: SecretHasher,
        failures: FailureLimiter,
        max_clients: u64,
        metrics: &Metrics,
    ) -> Self {
        ClientAuthenticator {
            store,
            hasher,
            clients: Cache::builder()
                .max_capacity(max_clients)
                .time_to_live(RELOAD_AFTER)
                .build(),
            absent: Cache::builder()
                .max_capacity((max_clients / 10).clamp(1, MAX_ABSENT_IDS))
                .time_to_live(RELOAD_AFTER)
                .build(),
            failures,
            client_lookups: metrics.cache("clients"),
            absent_lookups: metrics.cache("unknown_clients"),
            uses: Mutex::new(HashMap::new()),
            forgets: Mutex::new(0),
        }
    }

    /// How client secrets are hashed here (for creating them).
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    /// Any live secret of an enabled client authenticates it. An address that failed
    /// too often is refused before anything is looked up; otherwise every attempt costs
    /// one HMAC per candidate secret (those with the presented prefix), or one against
    /// nothing when there is none, so unknown and known ids cost the same.
    pub async fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let known = self.admit(client_id, source).await?;

        let prefix = presented.display_prefix();
        let candidates: Vec<&StoredSecret> = known
            .iter()
            .flat_map(|known| known.secrets.iter())
            .filter(|secret| secret.display_prefix == prefix && secret.is_live(now))
            .collect();
        // Only a legacy argon2 check waits (for the pool), so only it reserves a cell.
        let reserved = match candidates.iter().any(|c| SecretHasher::is_legacy(&c.hash)) {
            true => Some(
                self.failures
                    .begin(source, Instant::now())
                    .map_err(ClientAuthError::RateLimited)?,
            ),
            false => None,
        };
        if candidates.is_empty() {
            self.hasher.check_nothing(presented);
        }
        let mut matched = None;
        for candidate in candidates {
            let check = self.hasher.check(presented, &candidate.hash).await;
            // A stored hash that cannot be read matches nothing: the caller gets what a
            // wrong secret gets (not a 500 an unknown id would never see); the log says why.
            let check = check.unwrap_or_else(|error| {
                tracing::error!(
                    secret_id = candidate.id,
                    error = format!("{error:#}"),
                    "unreadable client secret hash"
                );
                SecretCheck::Mismatch
            });
            match check {
                SecretCheck::Mismatch => continue,
                SecretCheck::Matches => matched = Some((candidate, None)),
                SecretCheck::MatchesLegacy { upgraded } => {
                    let upgrade = HashUpgrade {
                        legacy: candidate.hash.clone(),
                        upgraded,
                    };
                    matched = Some((candidate, Some(upgrade)));
                }
            }
            break;
        }
        match (&known, matched) {
            (Some(known), Some((secret, upgrade))) if known.client.settings.enabled => {
                if reserved.is_none() {
                    self.failures
                        .check(source, Instant::now())
                        .map_err(ClientAuthError::RateLimited)?;
                }
                Ok(AuthenticatedClient {
                    client: known.client.clone(),
                    secret_id: Some(secret.id),
                    upgrade,
                })
            }
            _ => {
                match reserved {
                    Some(attempt) => attempt.failed(),
                    None => self
                        .failures
                        .record_failure(source, Instant::now())
                        .map_err(ClientAuthError::RateLimited)?,
                }
                Err(ClientAuthError::InvalidClient)
            }
        }
    }

    /// A public client (RFC 6749 §2.1, `token_endpoint_auth_method: none`) identifies
    /// itself by its id alone: only an enabled `PUBLIC` client passes, so a confidential
    /// client can never be used without its secret. Failures count against the address
    /// like wrong secrets.
    pub async fn identify_public(
        &self,
        client_id: &str,
        source: IpAddr,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let known = self.admit(client_id, source).await?;
        match known {
            Some(known)
                if known.client.settings.enabled
                    && known.client.settings.client_type == ClientType::Public =>
            {
                self.failures
                    .check(source, Instant::now())
                    .map_err(ClientAuthError::RateLimited)?;
                Ok(AuthenticatedClient {
                    client: known.client.clone(),
                    secret_id: None,
                    upgrade: None,
                })
            }
            _ => {
                self.failures
                    .record_failure(source, Instant::now())
                    .map_err(ClientAuthError::RateLimited)?;
                Err(ClientAuthError::InvalidClient)
            }
        }
    }

    /// Records the use of the secret, called once the request has succeeded (so a
    /// refused request changes nothing stored): in memory, written by the next
    /// [`ClientAuthenticator::flush_uses`]. A legacy argon2 hash that matched is
    /// replaced by its HMAC form now, unless the row changed meanwhile.
    pub async fn record_use(&self, authenticated: &AuthenticatedClient, now: DateTime<Utc>) {
        let Some(secret_id) = authenticated.secret_id else {
            return;
        };
        self.uses
            .lock()
            .expect("not poisoned")
            .entry(secret_id)
            .and_modify(|used| *used = (*used).max(now))
            .or_insert(now);
        let Some(upgrade) = &authenticated.upgrade else {
            return;
        };
        match self
            .store
            .upgrade_secret_hash(secret_id, &upgrade.legacy, &upgrade.upgraded)
            .await
        {
            Ok(true) => {
                tracing::info!(client_id = %authenticated.client.id, "client secret rehashed from argon2id to HMAC");
                self.forget(authenticated.client.id.as_str());
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot rehash a client secret"
                )
            }
        }
    }

    /// Writes the uses recorded since the last flush as `lastUsedAt`, in one
    /// transaction. Cancel-safe: a use leaves memory only once the write that carries
    /// it has committed, so a flush aborted mid-write (the periodic task, as the server
    /// stops) loses nothing; writing the same use twice is harmless (`lastUsedAt` only
    /// moves forward).
    pub async fn flush_uses(&self) -> anyhow::Result<()> {
        let pending: Vec<(i64, DateTime<Utc>)> = self
            .uses
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(secret_id, used)| (*secret_id, *used))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        self.store.record_secret_uses(&pending).await?;
        let mut uses = self.uses.lock().expect("not poisoned");
        for (secret_id, written) in pending {
            // A use recorded during the write is later than `written`: it stays.
            if uses.get(&secret_id) == Some(&written) {
                uses.remove(&secret_id);
            }
        }
        Ok(())
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
        let mut forgets = self.forgets.lock().expect("not poisoned");
        *forgets += 1;
        self.clients.invalidate(client_id);
        self.absent.invalidate(client_id);
    }

    /// Drops everything (when this process may have missed changes).
    pub fn forget_all(&self) {
        let mut forgets = self.forgets.lock().expect("not poisoned");
        *forgets += 1;
        self.clients.invalidate_all();
        self.absent.invalidate_all();
    }

    /// The start of every attempt: an address that failed too often is refused before
    /// anything is looked up; otherwise the client (or its absence), and a cell of the
    /// address's bucket for this attempt.
    /// An address that failed too often is refused before anything is looked up.
    async fn admit(
        &self,
        client_id: &str,
        source: IpAddr,
    ) -> Result<Option<Arc<KnownClient>>, ClientAuthError> {
        self.failures
            .check(source, Instant::now())
            .map_err(ClientAuthError::RateLimited)?;
        Ok(self.known_client(client_id).await?)
    }

    pub fn forget_idle_failures(&self) {
        self.failures.forget_idle(Instant::now());
    }

    /// Loads the clients active since `since` (created, changed, or with a secret used
    /// then), page by page, until the cache is full: after a restart the clients that
    /// were calling find themselves cached, instead of each first request paying its
    /// own database reads. A page read while the change feed forgot a client is not
    /// kept (its clients load on demand), as in [`Self::known_client`]. Returns how many
    /// clients were cached.
    pub async fn warm(&self, since: DateTime<Utc>) -> anyhow::Result<usize> {
        const PAGE: u32 = 2_000;
        let capacity = self.clients.policy().max_capacity().unwrap_or(u64::MAX);
        let since = since.timestamp_millis();
        let (mut after, mut cached) = (String::new(), 0usize);
        while (cached as u64) < capacity {
            let room = u32::try_from(capacity - cached as u64).unwrap_or(u32::MAX);
            let limit = PAGE.min(room);
            let forgets_before = *self.forgets.lock().expect("not poisoned");
            let (clients, secrets) = self.store.active_clients(since, &after, limit).await?;
            let Some(last) = clients.last() else {
                break;
            };
            after = last.id.clone();
            let full_page = clients.len() == limit as usize;
            let mut secrets_of: HashMap<String, Vec<StoredSecret>> = HashMap::new();
            for owned in secrets {
                let secret = StoredSecret::from(owned.secret);
                secrets_of.entry(owned.client_id).or_default().push(secret);
            }
            let mut page = Vec::with_capacity(clients.len());
            for record in clients {
                let id = record.id.clone();
                let known = KnownClient {
                    secrets: secrets_of.remove(&id).unwrap_or_default(),
                    client: Arc::new(Client::try_from(record)?),
                };
                page.push((id, Arc::new(known)));
            }
            let forgets = self.forgets.lock().expect("not poisoned");
            if *forgets == forgets_before {
                cached += page.len();
                for (id, known) in page {
                    self.clients.insert(id, known);
                }
            }
            drop(forgets);
            if !full_page {
                break;
            }
        }
        Ok(cached)
    }

    /// How many clients are cached now (for tests and metrics).
    pub fn cached_clients(&self) -> u64 {
        self.clients.run_pending_tasks();
        self.clients.entry_count()
    }

    async fn known_client(&self, client_id: &str) -> anyhow::Result<Option<Arc<KnownClient>>> {
        if let Some(known) = self.clients.get(client_id) {
            self.client_lookups.hit();
            return Ok(Some(known));
        }
        self.client_lookups.miss();
        if self.absent.contains_key(client_id) {
            self.absent_lookups.hit();
            return Ok(None);
        }
        // An id that cannot be one is answered without a lookup.
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        self.absent_lookups.miss();
        let forgets_before = *self.forgets.lock().expect("not poisoned");
        let client = read_client(&self.store, &id, &TenantScope::All).await?;
        // Read for an unknown id too, so a first lookup costs the same round trips
        // whether the id exists or not.
        let secrets = read_secrets(&self.store, &id).await?;
        let loaded = client.map(|client| {
            Arc::new(KnownClient {
                client: Arc::new(client),
                secrets,
            })
        });
        let forgets = self.forgets.lock().expect("not poisoned");
        if *forgets == forgets_before {
            match &loaded {
                Some(known) => self.clients.insert(client_id.to_owned(), known.clone()),
                None => self.absent.insert(client_id.to_owned(), ()),
            }
        }
        drop(forgets);
        Ok(loaded)
    }
}

/// Writes recorded uses every `every` until aborted (the last ones are written by the
/// application as it stops).
pub fn spawn_use_flush(
    authenticator: Arc<ClientAuthenticator>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = authenticator.flush_uses().await {
                tracing::warn!(error = format!("{error:#}"), "cannot record lastUsedAt");
            }
        }
    })
}
