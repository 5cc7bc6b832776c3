//! Signing keys: generation, encryption at rest, rotation, the JWKS, and verification
//! of the tokens Tessera signed.
//!
//! Who owns what: `lifecycle` (states and the rotation policy) and `rotation` (every
//! change, decided as a pure function of the stored keys and `now`), `key_set` (what a
//! process holds in memory and publishes), `algorithm`/`jwt` (the cryptography),
//! `master` (encryption at rest); this file loads, calls and stores.
//!
//! The [`KeyService`] holds the current key set in memory (swapped atomically on
//! reload), so signing and the JWKS never touch the database. Every change to the keys
//! runs in one locked transaction ([`Store::change_signing_keys`]), which is what keeps
//! replicas on one database from rotating twice or activating two keys; each process
//! re-reads the keys every `signing.refresh_seconds`, and at once when it meets a `kid`
//! it does not know (at most once a second).

mod algorithm;
pub mod jwt;
mod key_set;
mod lifecycle;
mod master;
pub mod rotation;
mod settings;

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{anyhow, Context};
use arc_swap::ArcSwap;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub use algorithm::{Algorithm, PublicKey, SigningKey};
pub use jwt::JwtError;
pub use key_set::{KeySet, LoadedKey};
pub use lifecycle::{KeySchedule, KeyState, Origin, Plan, RotationPolicy};
pub use master::{MasterKey, MasterKeySource};
pub use settings::{SigningSettings, DEFAULT_JWKS_MAX_AGE_SECONDS};

use crate::audit::AuditContext;
use crate::store::{from_millis, to_millis, KeyChanges, Store, StoredKey};
use rotation::{Decided, NewKey, Operation, Outcome};

/// Least time between two reloads caused by an unknown `kid`.
const UNKNOWN_KID_RELOAD_INTERVAL: StdDuration = StdDuration::from_secs(1);

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

/// See [`KeyService::rotation_times`]; `None` while no key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationTimes {
    pub active_since: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
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
                clock_skew: Duration::seconds(settings.leeway_seconds as i64),
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

    /// When the active key began signing and when the next one will, from the keys
    /// this process knows (for the metrics).
    pub fn rotation_times(&self, now: DateTime<Utc>) -> RotationTimes {
        let set = self.key_set();
        let schedules = set.schedules();
        RotationTimes {
            active_since: set.active(now).map(|key| key.schedule.activates_at),
            next_rotation: self.policy.next_rotation(&schedules, now),
        }
    }

    /// Scheduled work: rotate when due, delete expired keys, reload.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let context = AuditContext::system();
        if let Outcome::Created(kid) = self.change(now, Operation::Tick, None, &context).await? {
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
            .change(now, Operation::Rotate { immediate }, None, context)
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
            .change(now, Operation::Revoke(kid.to_owned()), None, context)
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
        let imported = self.prepare(alg, &der, kid, Origin::Imported, now)?;
        let outcome = match self
            .change(now, Operation::Import, Some(imported), context)
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

    /// Runs `operation` under the key lock: the key it may need is made (and sealed)
    /// before the lock is taken; when the freshest rows show a key is needed and none
    /// was made, one is made and the change tried again.
    async fn change(
        &self,
        now: DateTime<Utc>,
        operation: Operation,
        prepared: Option<PreparedKey>,
        context: &AuditContext,
    ) -> anyhow::Result<Outcome> {
        let mut prepared = match (prepared, &operation) {
            (Some(key), _) => Some(key),
            (None, Operation::Rotate { .. }) => Some(self.generate(now).await?),
            (None, _) => None,
        };
        for _ in 0..3 {
            let decided = self
                .store
                .change_signing_keys(to_millis(now), |rows| {
                    let before: Vec<KeySchedule> = rows
                        .iter()
                        .map(schedule_of)
                        .collect::<anyhow::Result<_>>()?;
                    let new_key = prepared.as_ref().map(|key| &key.new_key);
                    match rotation::decide(&self.policy, &before, &operation, new_key, now) {
                        Decided::NeedsNewKey => Ok((KeyChanges::default(), None)),
                        Decided::Done(decision) => {
                            let changes = key_changes(&rows, &decision, prepared.as_ref(), context);
                            Ok((changes, Some(decision.outcome)))
                        }
                    }
                })
                .await?;
            match decided {
                Some(outcome) => return Ok(outcome),
                None => prepared = Some(self.generate(now).await?),
            }
        }
        Err(anyhow!(
            "the signing keys kept changing during a key change"
        ))
    }

    /// A new key of the configured algorithm, generated off the async workers (RSA
    /// takes a while) and sealed.
    async fn generate(&self, now: DateTime<Utc>) -> anyhow::Result<PreparedKey> {
        let alg = self.algorithm;
        let der = tokio::task::spawn_blocking(move || alg.generate_pkcs8())
            .await
            .context("key generation failed")??;
        self.prepare(alg, &der, None, Origin::Generated, now)
    }

    fn prepare(
        &self,
        alg: Algorithm,
        der: &[u8],
        kid: Option<String>,
        origin: Origin,
        now: DateTime<Utc>,
    ) -> anyhow::Result<PreparedKey> {
        let signer = SigningKey::from_der(alg, der)?;
        let public = signer.public_key();
        let kid = kid.unwrap_or_else(|| public.thumbprint());
        let row = StoredKey {
            public_jwk: public.to_jwk(&kid, alg).to_string(),
            private_key: self.master.seal(&kid, alg, der)?,
            kid: kid.clone(),
            alg: alg.as_str().to_owned(),
            origin: origin.as_str().to_owned(),
            created_at: to_millis(now),
            activates_at: to_millis(now),
            retires_at: None,
            expires_at: None,
            revoked_at: None,
        };
        Ok(PreparedKey {
            new_key: NewKey { kid, origin },
            row,
        })
    }
}

/// A key made and sealed before the lock: what [`rotation::decide`] needs to know of it,
/// and its row.
struct PreparedKey {
    new_key: NewKey,
    row: StoredKey,
}

/// The rows to write for `decision`, and its audit events as made by `context`.
fn key_changes(
    rows: &[StoredKey],
    decision: &rotation::Decision,
    prepared: Option<&PreparedKey>,
    context: &AuditContext,
) -> KeyChanges {
    let with_times = |row: &StoredKey, schedule: &KeySchedule| StoredKey {
        created_at: to_millis(schedule.created_at),
        activates_at: to_millis(schedule.activates_at),
        retires_at: schedule.retires_at.map(to_millis),
        expires_at: schedule.expires_at.map(to_millis),
        revoked_at: schedule.revoked_at.map(to_millis),
        ..row.clone()
    };
    let inserts = decision
        .inserted
        .iter()
        .zip(prepared)
        .map(|(schedule, key)| with_times(&key.row, schedule))
        .collect();
    let updates = decision
        .updated
        .iter()
        .filter_map(|schedule| {
            let row = rows.iter().find(|row| row.kid == schedule.kid)?;
            Some(with_times(row, schedule))
        })
        .collect();
    KeyChanges {
        inserts,
        updates,
        deletes: decision.deleted.clone(),
        audit: decision
            .audit
            .iter()
            .map(|(action, kid)| context.record(*action, kid, None))
            .collect(),
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
