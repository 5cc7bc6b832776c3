//! Checking a client secret: the argon2id verification of a first use (and of every
//! wrong secret), against the digest that remembers a successful check. `cargo bench
//! --bench secrets`.
//!
//! The parameters are those of the clients branch (`src/clients/secrets.rs`:
//! `Argon2::default()`, argon2id, m = 19 MiB, t = 2, p = 1). Its `verify_secret` is
//! async and crate-private, so this bench calls the `argon2` crate the same way; once the
//! project exposes a synchronous check, point `verify` at it.

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::RngCore;

/// A client secret as Tessera generates it: 256 random bits, 43 URL-safe characters.
fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(secret: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("hashes")
        .to_string()
}

fn verify(secret: &str, hash: &str) -> bool {
    let parsed = PasswordHash::new(hash).expect("a PHC string");
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

fn argon2id(c: &mut Criterion) {
    let secret = secret();
    let stored = hash(&secret);
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    let wrong = self::secret();
    let mut group = c.benchmark_group("secret/argon2id");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("verify, right secret", |b| {
        b.iter(|| assert!(verify(black_box(&secret), &stored)))
    });
    group.bench_function("verify, wrong secret", |b| {
        b.iter(|| assert!(!verify(black_box(&wrong), &stored)))
    });
    group.finish();
}

fn remembered(c: &mut Criterion) {
    let secret = secret();
    assert_eq!(secret.len(), 43);
    let mut group = c.benchmark_group("secret/remembered");
    group.bench_function("SHA-256", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(secret.as_bytes())))
    });
    // Issue 5 keys the remembered checks by a keyed hash.
    let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
        .expect("a key");
    group.bench_function("HMAC-SHA-256", |b| {
        b.iter(|| ring::hmac::sign(&key, black_box(secret.as_bytes())))
    });
    group.finish();
}

criterion_group!(benches, argon2id, remembered);
criterion_main!(benches);
