//! The keys one process holds in memory: the published ones with their private halves
//! parsed once, the active one, and the JWKS document rendered once per change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::algorithm::{PublicKey, SigningKey};
use super::lifecycle::{KeySchedule, KeyState};
use super::Algorithm;

/// A published key, its private half parsed once.
pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub schedule: KeySchedule,
    pub public: PublicKey,
    pub(super) signer: Arc<SigningKey>,
}

/// The keys one process knows, with the JWKS document rendered once.
pub struct KeySet {
    keys: Vec<Arc<LoadedKey>>,
    jwks: Vec<u8>,
    etag: String,
}

impl KeySet {
    pub(super) fn new(keys: Vec<Arc<LoadedKey>>) -> Self {
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

    /// The schedules of the published keys.
    pub fn schedules(&self) -> Vec<KeySchedule> {
        self.keys.iter().map(|k| k.schedule.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
