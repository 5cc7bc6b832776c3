//! Checking a client secret: Tessera's HMAC-SHA-256 check (`SecretHasher::check`, what
//! every token request costs, cold or warm), against argon2id, what a legacy row (and,
//! next, a user password) costs. `cargo bench --bench secrets`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;
use tessera::clients::secrets::{ClientSecret, SecretCheck, SecretHasher};

fn hasher() -> SecretHasher {
    let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
        .expect("a key");
    SecretHasher::new(key)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn hmac_sha256(c: &mut Criterion) {
    let runtime = runtime();
    let hasher = hasher();
    let secret = ClientSecret::generate();
    let stored = hasher.hash(&secret);
    let wrong = ClientSecret::generate();
    let mut group = c.benchmark_group("secret/hmac-sha256");
    group.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(&secret))));
    group.bench_function("check, right secret", |b| {
        b.iter(|| {
            let check = runtime.block_on(hasher.check(black_box(&secret), &stored));
            assert_eq!(check.unwrap(), SecretCheck::Matches);
        })
    });
    group.bench_function("check, wrong secret", |b| {
        b.iter(|| {
            let check = runtime.block_on(hasher.check(black_box(&wrong), &stored));
            assert_eq!(check.unwrap(), SecretCheck::Mismatch);
        })
    });
    group.bench_function("check, unknown client", |b| {
        b.iter(|| hasher.check_nothing(black_box(&wrong)))
    });
    group.finish();
}

fn argon2id(c: &mut Criterion) {
    let runtime = runtime();
    let secret = SecretString::from(ClientSecret::generate().expose().to_owned());
    let stored = runtime
        .block_on(tessera::password::hash_password(&secret))
        .expect("hashes");
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    let wrong = SecretString::from(ClientSecret::generate().expose().to_owned());
    let mut group = c.benchmark_group("secret/argon2id");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("verify, right secret", |b| {
        b.iter(|| {
            let verified = runtime.block_on(tessera::password::verify_password(
                black_box(&secret),
                Some(&stored),
            ));
            assert!(verified.unwrap());
        })
    });
    group.bench_function("verify, wrong secret", |b| {
        b.iter(|| {
            let verified = runtime.block_on(tessera::password::verify_password(
                black_box(&wrong),
                Some(&stored),
            ));
            assert!(!verified.unwrap());
        })
    });
    group.finish();
}

criterion_group!(benches, hmac_sha256, argon2id);
criterion_main!(benches);
