//! Client authentication (RFC 6749 §2.3.1), the one place a presented secret is
//! checked, built for the token endpoint's hot path.
//!
//! Each process keeps clients and their secret hashes in memory, and remembers a
//! successful check under an HMAC of the client id and secret keyed with a random
//! per-process key (never the secret itself), so a warmed-up client costs no database
//! round trip and no argon2. [`ClientAuthenticator::forget`] drops what is known of a
//! client: at once in the process that changed it, and within
//! `oauth.sync_interval_millis` in the others (see [`crate::sync`]).

use std::collections::HashMap;
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

/// A client that proved it holds one of its secrets.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
    /// The id of the secret it presented.
    pub secret_id: i64,
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
}

/// HMAC-SHA256 of client id and secret under the per-process key.
type CheckTag = [u8; 32];

#[derive(Debug, Clone)]
struct RememberedCheck {
    client_id: String,
    secret_id: i64,
    checked_at: DateTime<Utc>,
}

pub struct ClientAuthenticator {
    store: Store,
    /// `None` remembers that no such client exists.
    clients: RwLock<HashMap<String, Option<Arc<KnownClient>>>>,
    checks: RwLock<HashMap<CheckTag, RememberedCheck>>,
    check_key: hmac::Key,
    check_ttl: Duration,
    max_clients: usize,
    failures: FailureLimiter,
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
            checks: RwLock::new(HashMap::new()),
            check_key: hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("OS randomness"),
            check_ttl,
            max_clients,
            failures,
            forgets: AtomicU64::new(0),
        }
    }

    /// Any live secret of an enabled client authenticates it. A remembered check costs
    /// an HMAC; otherwise exactly one argon2 verification runs whatever the outcome
    /// (against a dummy hash when nothing could match), unless the client id has
    /// failed too often, in which case nothing is checked.
    pub async fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
        now: DateTime<Utc>,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let known = self.known_client(client_id).await?;
        let tag = self.check_tag(client_id, presented);
        if let Some(known) = &known {
            if let Some(done) = self.remembered(known, &tag, now) {
                return Ok(done);
            }
        }
        let limiter_key = if known.is_some() {
            client_id
        } else {
            UNKNOWN_CLIENT
        };
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
                self.remember(tag, client_id, secret.id, now);
                let stale = secret
                    .last_used_at
                    .is_none_or(|used| now - used >= LAST_USED_RESOLUTION);
                if stale {
                    if let Err(error) = self.store.touch_secret(secret.id, now).await {
                        tracing::warn!(error = format!("{error:#}"), "cannot record lastUsedAt");
                    }
                }
                Ok(AuthenticatedClient {
                    client: known.client.clone(),
                    secret_id: secret.id,
                })
            }
            _ => {
                self.failures.record_failure(limiter_key);
                Err(ClientAuthError::InvalidClient)
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
            }
        })
    }

    fn remember(&self, tag: CheckTag, client_id: &str, secret_id: i64, now: DateTime<Utc>) {
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
            },
        );
    }

    async fn known_client(&self, client_id: &str) -> anyhow::Result<Option<Arc<KnownClient>>> {
        if let Some(known) = self.clients.read().expect("not poisoned").get(client_id) {
            return Ok(known.clone());
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
                }))
            }
            None => None,
        };
        let mut clients = self.clients.write().expect("not poisoned");
        if self.forgets.load(Ordering::SeqCst) != forgets_before {
            return Ok(loaded);
        }
        if clients.len() >= self.max_clients {
            clients.clear();
        }
        clients.insert(client_id.to_owned(), loaded.clone());
        Ok(loaded)
    }
}
