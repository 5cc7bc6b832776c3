//! Password hashing: argon2id (PHC strings, the `argon2` crate's defaults: m = 19 MiB,
//! t = 2, p = 1) for low-entropy secrets people choose, i.e. user passwords. Client
//! secrets are random and use a fast keyed hash instead (`clients::secrets`); they
//! come here only to verify rows stored before that change.
//!
//! Every computation runs on the blocking pool, at most one per core at a time, in
//! working memory that is reused rather than allocated per check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use anyhow::Context;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// How every argon2id PHC string starts, to tell it from other stored forms.
pub const ARGON2ID_PREFIX: &str = "$argon2id$";

/// How many argon2 computations run at once: one per core.
static ARGON2_SLOT_COUNT: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));

/// One argon2 computation per core at a time; the rest wait here, off the workers.
static ARGON2_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(*ARGON2_SLOT_COUNT));

/// Computations waiting for a slot (the queue the metrics show).
static ARGON2_WAITING: AtomicUsize = AtomicUsize::new(0);

/// Argon2's working memory (19 MiB each), one per slot, reused. Allocated per check,
/// freed blocks of that size stay with the allocator's per-thread arenas, and a flood
/// of checks grows the process by gigabytes; reused, it stays at slots × 19 MiB.
static ARGON2_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// The hash checked when there is none (an unknown user), so it costs the same.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let mut memory = vec![Block::default(); Params::default().block_count()];
    argon2_hash(&hex::encode(random), &mut memory).expect("argon2 hashes a random text")
});

/// The argon2id PHC string of `password`, with a fresh salt.
pub async fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let password = password.clone();
    on_argon2_pool(move |memory| argon2_hash(password.expose_secret(), memory)).await?
}

/// Whether `password` matches the PHC string `hash` (compared in constant time); with
/// no hash, the work of a check against a dummy and `false`.
pub async fn verify_password(password: &SecretString, hash: Option<&str>) -> anyhow::Result<bool> {
    let password = password.clone();
    let hash = hash.map(str::to_owned);
    on_argon2_pool(move |memory| {
        let (hash, real) = match &hash {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        Ok(argon2_matches(password.expose_secret(), hash, memory)? && real)
    })
    .await?
}

/// The argon2 pool now: computations waiting for a slot, and running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub waiting: usize,
    pub running: usize,
}

pub fn pool_usage() -> PoolUsage {
    PoolUsage {
        waiting: ARGON2_WAITING.load(Ordering::Relaxed),
        running: ARGON2_SLOT_COUNT.saturating_sub(ARGON2_SLOTS.available_permits()),
    }
}

/// Counts one computation as waiting while it lives: dropped when the slot is had, or
/// when the request waiting for it goes away.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        ARGON2_WAITING.fetch_add(1, Ordering::Relaxed);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        ARGON2_WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn on_argon2_pool<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> anyhow::Result<T> {
    let waiting = Waiting::start();
    let _slot = ARGON2_SLOTS.acquire().await.context("argon2 pool closed")?;
    drop(waiting);
    tokio::task::spawn_blocking(move || {
        let spare = ARGON2_MEMORY.lock().expect("not poisoned").pop();
        let mut memory = spare.unwrap_or_default();
        let outcome = work(&mut memory);
        ARGON2_MEMORY.lock().expect("not poisoned").push(memory);
        outcome
    })
    .await
    .context("argon2 task failed")
}

/// Argon2id of `password` under `params` and `salt`, computed in `memory` (grown once
/// if it is too small).
fn argon2_output(
    password: &str,
    salt: &Salt<'_>,
    params: Params,
    out_len: usize,
    memory: &mut Vec<Block>,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| anyhow::anyhow!("bad salt: {error}"))?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let blocks = params.block_count();
    let mut out = vec![0u8; out_len];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .map_err(|error| anyhow::anyhow!("argon2 failed: {error}"))?;
    Output::new(&out).map_err(|error| anyhow::anyhow!("argon2 output: {error}"))
}

fn argon2_hash(password: &str, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let params = Params::default();
    let output = argon2_output(
        password,
        &salt.as_salt(),
        params.clone(),
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|error| anyhow::anyhow!("{error}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (compared in constant time).
fn argon2_matches(password: &str, hash: &str, memory: &mut Vec<Block>) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|error| anyhow::anyhow!("stored password hash is corrupt: {error}"))?;
    if Algorithm::try_from(parsed.algorithm).ok() != Some(Algorithm::Argon2id) {
        anyhow::bail!("stored password hash is not argon2id");
    }
    let params = Params::try_from(&parsed).map_err(|error| anyhow::anyhow!("{error}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored password hash has no salt or no output");
    };
    let output = argon2_output(password, &salt, params, expected.len(), memory)?;
    Ok(output == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let hash = hash_password(&secret("correct horse")).await.unwrap();
        assert!(hash.starts_with(ARGON2ID_PREFIX));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&secret("correct horse"), Some(&hash))
            .await
            .unwrap());
        assert!(!verify_password(&secret("battery staple"), Some(&hash))
            .await
            .unwrap());
        assert!(!verify_password(&secret("correct horse"), None)
            .await
            .unwrap());
        assert!(verify_password(&secret("x"), Some("not a hash"))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn hashes_past_the_slots_wait_in_the_queue_the_metrics_show() {
        let slots = *ARGON2_SLOT_COUNT;
        let hashes: Vec<_> = (0..2 * slots + 1)
            .map(|_| tokio::spawn(async { hash_password(&secret("queued")).await }))
            .collect();
        let mut seen = PoolUsage {
            waiting: 0,
            running: 0,
        };
        let started = std::time::Instant::now();
        while seen.waiting == 0 && started.elapsed() < std::time::Duration::from_secs(10) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            seen = pool_usage();
        }
        assert!(seen.waiting >= 1, "{seen:?}");
        assert!((1..=slots).contains(&seen.running), "{seen:?}");
        for hash in hashes {
            hash.await.unwrap().unwrap();
        }
        // Other tests of this binary may still be hashing: wait for them too.
        let started = std::time::Instant::now();
        while pool_usage().waiting > 0 && started.elapsed() < std::time::Duration::from_secs(30) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(pool_usage().waiting, 0);
    }

    #[test]
    fn hashes_are_standard_phc_argon2id_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Vec::new();
        let ours = argon2_hash("s3cret", &mut memory).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"other", &parsed)
            .is_err());

        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        assert!(argon2_matches("s3cret", &theirs, &mut memory).unwrap());
        assert!(!argon2_matches("other", &theirs, &mut memory).unwrap());
        assert!(argon2_matches("x", "not a hash", &mut memory).is_err());
        assert_eq!(
            memory.len(),
            Params::default().block_count(),
            "one buffer, reused"
        );
    }
}
