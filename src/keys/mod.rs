//! Signing keys: generation, encryption at rest, rotation, the JWKS, and verification
//! of the tokens Tessera signed.
//!
//! The [`KeyService`] holds the current key set in memory (swapped atomically on
//! reload), so signing and the JWKS never touch the database. Every change to the keys
//! runs in one locked transaction ([`Store::change_signing_keys`]), which is what keeps
//! replicas on one database from rotating twice or activating two keys; each process
//! re-reads the keys every `signing.refresh_seconds`, and at once when it meets a `kid`
//! it does not know (at most once a second).

mod algorithm;
pub mod jwt;
mod lifecycle;
mod master;

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{anyhow, Context};
use arc_swap::ArcSwap;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub use algorithm::{Algorithm, PublicKey, SigningKey};
pub use jwt::JwtError;
pub use lifecycle::{KeySchedule, KeyState, Origin, Plan, RotationPolicy};
pub use master::{MasterKey, MasterKeySource};

use crate::audit::{Action, AuditContext};
use crate::config::SigningSettings;
use crate::store::{from_millis, to_millis, KeyChanges, Store, StoredKey};

/// Least time between two reloads caused by an unknown `kid`.
const UNKNOWN_KID_RELOAD_INTERVAL: StdDuration = StdDuration::from_secs(1);

/// A published key, its private half parsed once.
pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub schedule: KeySchedule,
    pub public: PublicKey,
    signer: Arc<SigningKey>,
}

/// The keys one process knows, with the JWKS document rendered once.
pub struct KeySet {
    keys: Vec<Arc<LoadedKey>>,
    jwks: Vec<u8>,
    etag: String,
}

impl KeySet {
    fn new(keys: Vec<Arc<LoadedKey>>) -> Self {
        let jwks: Vec<Value> = keys
            .iter()
            .map(|k| k.public.to_jwk(&k.kid, k.alg))
            .collect();
        let jwks =
            serde_json::to_vec(&serde_json::json!({ "keys": jwks })).expect("a JWKS serialises");
        let digest = ring::digest::digest(&ring::digest::SHA256, &jwks);
        let etag = format!("\"{}\"", hex::encode(&digest.as_ref()[..16]));
        KeySet { keys, jwks, etag }
    }

    /// The key that signs at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> Option<&Arc<LoadedKey>> {
        self.keys
            .iter()
            .find(|k| k.schedule.state(now) == KeyState::Active)
    }

    pub fn find(&self, kid: &str) -> Option<&Arc<LoadedKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// `{"keys": [...]}`: every pending, active and retired public key.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The kids of the published keys, in activation order.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What the admin API and CLI show of a key: nothing private.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub origin: &'static str,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token whose signature, key and times checked out.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    pub kid: String,
    /// Whether Tessera generated the key or it was imported (verification only).
    pub origin: Origin,
    pub typ: Option<String>,
    pub claims: Map<String, Value>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    Started(String),
    /// A pending key exists; a scheduled (non-immediate) rotation is already under way.
    AlreadyPending(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported(String),
    KidTaken(String),
}

enum Operation {
    Tick,
    Rotate {
        immediate: bool,
    },
    Revoke(String),
    Import {
        alg: Algorithm,
        der: Vec<u8>,
        kid: Option<String>,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Unchanged,
    Created(String),
    Pending(String),
    Revoked,
    NotFound,
    KidTaken(String),
}

pub struct KeyService {
    store: Store,
    master: MasterKey,
    algorithm: Algorithm,
    policy: RotationPolicy,
    leeway_seconds: i64,
    current: ArcSwap<KeySet>,
    last_unknown_kid_reload: Mutex<Option<Instant>>,
}

impl KeyService {
    /// A key derived from the master key for the use `label` names (see
    /// [`MasterKey::derive_hmac_key`]).
    pub fn derive_hmac_key(&self, label: &str) -> ring::hmac::Key {
        self.master.derive_hmac_key(label)
    }

    /// Loads the master key and the stored keys (every one must decrypt), then makes
    /// sure a key is active. Fails rather than replace keys it cannot read.
    pub async fn start(
        store: Store,
        settings: &SigningSettings,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Arc<Self>> {
        let has_keys = store
            .has_signing_keys()
            .await
            .context("cannot read the signing keys")?;
        let (master, source) =
            MasterKey::load(&settings.master_key, &settings.master_key_file, has_keys)?;
        match source {
            MasterKeySource::Configured => tracing::info!("master key: from signing.master_key"),
            MasterKeySource::File => {
                tracing::info!(file = %settings.master_key_file.display(), "master key: from file")
            }
            MasterKeySource::CreatedFile => tracing::warn!(
                file = %settings.master_key_file.display(),
                "master key: created a new file; back it up with the database"
            ),
        }
        let service = KeyService {
            store,
            master,
            algorithm: settings.algorithm.parse()?,
            policy: RotationPolicy {
                rotation_interval: Duration::seconds(settings.rotation_interval_seconds as i64),
                prepublish: Duration::seconds(settings.prepublish_seconds as i64),
                retention: Duration::seconds(
                    (settings.max_token_lifetime_seconds + settings.leeway_seconds) as i64,
                ),
            },
            leeway_seconds: settings.leeway_seconds as i64,
            current: ArcSwap::from_pointee(KeySet::new(Vec::new())),
            last_unknown_kid_reload: Mutex::new(None),
        };
        service.reload(now).await.context(
            "the signing keys in the database do not decrypt under the configured master key \
             (signing.master_key or signing.master_key_file); refusing to start rather than \
             replace them",
        )?;
        service.tick(now).await?;
        Ok(Arc::new(service))
    }

    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// The keys this process knows now.
    pub fn key_set(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Scheduled work: rotate when due, delete expired keys, reload.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let context = AuditContext::system();
        if let Outcome::Created(kid) = self.change(now, Operation::Tick, &context).await? {
            tracing::info!(%kid, "signing key created by scheduled rotation");
        }
        self.reload(now).await
    }

    pub async fn rotate(
        &self,
        now: DateTime<Utc>,
        immediate: bool,
        context: &AuditContext,
    ) -> anyhow::Result<RotateOutcome> {
        let outcome = match self
            .change(now, Operation::Rotate { immediate }, context)
            .await?
        {
            Outcome::Created(kid) => {
                tracing::info!(%kid, immediate, "signing key rotation started");
                RotateOutcome::Started(kid)
            }
            Outcome::Pending(kid) => RotateOutcome::AlreadyPending(kid),
            other => return Err(anyhow!("unexpected rotation outcome {other:?}")),
        };
        self.reload(now).await?;
        Ok(outcome)
    }

    /// Revokes `kid`: out of the JWKS and no longer accepted. Revoking the active key
    /// makes a new one active at once. Returns false when no such unrevoked key exists.
    pub async fn revoke(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        context: &AuditContext,
    ) -> anyhow::Result<bool> {
        let outcome = self
            .change(now, Operation::Revoke(kid.to_owned()), context)
            .await?;
        self.reload(now).await?;
        if outcome == Outcome::Revoked {
            tracing::warn!(%kid, "signing key revoked");
        }
        Ok(outcome == Outcome::Revoked)
    }

    /// Imports a private key (PKCS#8 DER, or PKCS#1 for RSA) that only verifies: it is
    /// published as retired, so tokens another server signed with it stay verifiable
    /// until they expire. `kid` defaults to the RFC 7638 thumbprint.
    pub async fn import(
        &self,
        alg: Algorithm,
        der: Vec<u8>,
        kid: Option<String>,
        now: DateTime<Utc>,
        context: &AuditContext,
    ) -> anyhow::Result<ImportOutcome> {
        let outcome = match self
            .change(now, Operation::Import { alg, der, kid }, context)
            .await?
        {
            Outcome::Created(kid) => ImportOutcome::Imported(kid),
            Outcome::KidTaken(kid) => ImportOutcome::KidTaken(kid),
            other => return Err(anyhow!("unexpected import outcome {other:?}")),
        };
        self.reload(now).await?;
        Ok(outcome)
    }

    /// Every stored key, revoked ones included, oldest first.
    pub async fn list(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<KeyView>> {
        list_keys(&self.store, now).await
    }

    /// Signs `claims` with the key active at `now`.
    pub fn sign(
        &self,
        typ: &str,
        claims: &impl Serialize,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let set = self.current.load();
        let key = set
            .active(now)
            .ok_or_else(|| anyhow!("no signing key is active"))?;
        jwt::encode(&key.signer, &key.kid, typ, claims)
    }

    /// Verifies a token Tessera signed: a published, unrevoked key of the header's
    /// algorithm, a valid signature, and `exp`/`nbf` within the leeway. The caller
    /// checks the claims that depend on its purpose (`iss`, `typ`, audience, scope).
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<VerifiedJwt, JwtError> {
        let parsed = jwt::parse(token)?;
        let key = match self.current.load().find(&parsed.kid).cloned() {
            Some(key) => key,
            None if self.reload_for_unknown_kid(now).await => self
                .current
                .load()
                .find(&parsed.kid)
                .cloned()
                .ok_or(JwtError::UnknownKey)?,
            None => return Err(JwtError::UnknownKey),
        };
        if !key.schedule.state(now).is_published() {
            return Err(JwtError::UnknownKey);
        }
        if key.alg != parsed.alg {
            return Err(JwtError::UnacceptableHeader);
        }
        if !key
            .public
            .verify(parsed.alg, parsed.signing_input, &parsed.signature)
        {
            return Err(JwtError::BadSignature);
        }
        let claims = parsed.claims()?;
        jwt::check_times(&claims, now.timestamp(), self.leeway_seconds)?;
        Ok(VerifiedJwt {
            kid: key.kid.clone(),
            origin: key.schedule.origin,
            typ: parsed.typ,
            claims,
        })
    }

    async fn reload_for_unknown_kid(&self, now: DateTime<Utc>) -> bool {
        {
            let mut last = self.last_unknown_kid_reload.lock().expect("not poisoned");
            if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.reload(now).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reload for an unknown kid failed"
                );
                false
            }
        }
    }

    /// Re-reads the stored keys; keys already known keep their parsed private half.
    pub async fn reload(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let rows = self
            .store
            .signing_keys()
            .await
            .context("cannot read the signing keys")?;
        let known = self.current.load_full();
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let schedule = schedule_of(&row)?;
            if !schedule.state(now).is_published() {
                continue;
            }
            let alg: Algorithm = row.alg.parse()?;
            let signer = match known.find(&row.kid) {
                Some(key) => key.signer.clone(),
                None => {
                    let der = self.master.open(&row.kid, alg, &row.private_key)?;
                    Arc::new(SigningKey::from_der(alg, &der)?)
                }
            };
            keys.push(Arc::new(LoadedKey {
                kid: row.kid,
                alg,
                public: signer.public_key(),
                schedule,
                signer,
            }));
        }
        self.current.store(Arc::new(KeySet::new(keys)));
        Ok(())
    }

    async fn change(
        &self,
        now: DateTime<Utc>,
        operation: Operation,
        context: &AuditContext,
    ) -> anyhow::Result<Outcome> {
        self.store
            .change_signing_keys(to_millis(now), context, |rows| {
                self.decide(rows, operation, now)
            })
            .await
    }

    /// The heart of every key change, run under the key lock on the freshest rows.
    fn decide(
        &self,
        rows: Vec<StoredKey>,
        operation: Operation,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(KeyChanges, Outcome)> {
        // `now` was read before the lock was taken; if another process committed a key
        // since, act as of that commit so its key counts as the present one.
        let latest_commit = rows.iter().map(|row| from_millis(row.created_at)).max();
        let now = latest_commit.map_or(now, |latest| latest.max(now));
        let before: Vec<KeySchedule> = rows
            .iter()
            .map(schedule_of)
            .collect::<anyhow::Result<_>>()?;
        let mut keys = before.clone();
        let mut inserts = Vec::new();
        let mut outcome = Outcome::Unchanged;

        let plan = match operation {
            Operation::Tick => self.policy.plan(&keys, now),
            Operation::Rotate { immediate } => {
                let pending = keys
                    .iter()
                    .find(|k| k.origin == Origin::Generated && k.state(now) == KeyState::Pending);
                match pending {
                    Some(pending) if !immediate => {
                        return Ok((KeyChanges::default(), Outcome::Pending(pending.kid.clone())))
                    }
                    _ => self.policy.forced(now, immediate),
                }
            }
            Operation::Revoke(kid) => {
                let Some(key) = keys
                    .iter_mut()
                    .find(|k| k.kid == kid && k.revoked_at.is_none())
                else {
                    return Ok((KeyChanges::default(), Outcome::NotFound));
                };
                key.revoked_at = Some(now);
                key.expires_at = Some(now + self.policy.retention);
                outcome = Outcome::Revoked;
                self.policy.plan(&keys, now)
            }
            Operation::Import { alg, der, kid } => {
                let (row, schedule) =
                    self.seal_new_key(alg, &der, kid, Origin::Imported, now, now)?;
                if keys.iter().any(|k| k.kid == row.kid) {
                    return Ok((KeyChanges::default(), Outcome::KidTaken(row.kid)));
                }
                outcome = Outcome::Created(row.kid.clone());
                keys.push(schedule);
                inserts.push(row);
                Plan::Nothing
            }
        };
        if let Plan::NewKey { activates_at } = plan {
            let der = self.algorithm.generate_pkcs8()?;
            let (row, schedule) = self.seal_new_key(
                self.algorithm,
                &der,
                None,
                Origin::Generated,
                now,
                activates_at,
            )?;
            if outcome == Outcome::Unchanged {
                outcome = Outcome::Created(row.kid.clone());
            }
            keys.push(schedule);
            inserts.push(row);
        }
        self.policy.relink(&mut keys, now);

        let mut changes = KeyChanges {
            inserts,
            ..KeyChanges::default()
        };
        for row in &changes.inserts {
            let action = match row.origin.as_str() {
                "imported" => Action::SigningKeyImported,
                _ => Action::SigningKeyCreated,
            };
            changes.audit.push((action, row.kid.clone()));
        }
        for (old, new) in before.iter().zip(&keys) {
            if old.revoked_at.is_none() && new.revoked_at.is_some() {
                changes
                    .audit
                    .push((Action::SigningKeyRevoked, new.kid.clone()));
            }
            // Expired, or revoked and past its record time: deleted either way.
            if new.expires_at.is_some_and(|at| now >= at) {
                changes.deletes.push(new.kid.clone());
                changes
                    .audit
                    .push((Action::SigningKeyDeleted, new.kid.clone()));
            } else if old != new {
                let row = rows.iter().find(|r| r.kid == new.kid).expect("same rows");
                changes.updates.push(StoredKey {
                    retires_at: new.retires_at.map(to_millis),
                    expires_at: new.expires_at.map(to_millis),
                    revoked_at: new.revoked_at.map(to_millis),
                    ..row.clone()
                });
            }
        }
        for row in &mut changes.inserts {
            let schedule = keys
                .iter()
                .find(|k| k.kid == row.kid)
                .expect("inserted key");
            row.retires_at = schedule.retires_at.map(to_millis);
            row.expires_at = schedule.expires_at.map(to_millis);
        }
        Ok((changes, outcome))
    }

    fn seal_new_key(
        &self,
        alg: Algorithm,
        der: &[u8],
        kid: Option<String>,
        origin: Origin,
        now: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> anyhow::Result<(StoredKey, KeySchedule)> {
        let signer = SigningKey::from_der(alg, der)?;
        let public = signer.public_key();
        let kid = kid.unwrap_or_else(|| public.thumbprint());
        let (retires_at, expires_at) = match origin {
            Origin::Generated => (None, None),
            Origin::Imported => (Some(now), Some(now + self.policy.retention)),
        };
        let schedule = KeySchedule {
            kid: kid.clone(),
            origin,
            created_at: now,
            activates_at,
            retires_at,
            expires_at,
            revoked_at: None,
        };
        let row = StoredKey {
            public_jwk: public.to_jwk(&kid, alg).to_string(),
            private_key: self.master.seal(&kid, alg, der)?,
            kid,
            alg: alg.as_str().to_owned(),
            origin: origin.as_str().to_owned(),
            created_at: to_millis(now),
            activates_at: to_millis(activates_at),
            retires_at: retires_at.map(to_millis),
            expires_at: expires_at.map(to_millis),
            revoked_at: None,
        };
        Ok((row, schedule))
    }
}

/// Every stored key as the admin sees it; needs no master key.
pub async fn list_keys(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Vec<KeyView>> {
    store
        .signing_keys()
        .await?
        .iter()
        .map(|row| {
            let schedule = schedule_of(row)?;
            Ok(KeyView {
                kid: row.kid.clone(),
                alg: row.alg.parse()?,
                state: schedule.state(now),
                origin: schedule.origin.as_str(),
                created_at: schedule.created_at,
                activates_at: schedule.activates_at,
                retires_at: schedule.retires_at,
                expires_at: schedule.expires_at,
                revoked_at: schedule.revoked_at,
            })
        })
        .collect()
}

fn schedule_of(row: &StoredKey) -> anyhow::Result<KeySchedule> {
    Ok(KeySchedule {
        kid: row.kid.clone(),
        origin: Origin::parse(&row.origin)?,
        created_at: from_millis(row.created_at),
        activates_at: from_millis(row.activates_at),
        retires_at: row.retires_at.map(from_millis),
        expires_at: row.expires_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
    })
}

/// Runs [`KeyService::tick`] every `every` until the task is aborted.
pub fn spawn_refresh(service: Arc<KeyService>, every: StdDuration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(error) = service.tick(Utc::now()).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "signing key refresh failed; serving the last known keys"
                );
            }
        }
    })
}
