//! Signing and verifying access tokens: the per-request cryptography of
//! `POST /oauth/token` and `POST /oauth/introspect` (issue 6), with `jsonwebtoken` for
//! contrast. `cargo bench --bench tokens`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde::Serialize;
use tessera::keys::{jwt, Algorithm, SigningKey};

/// The claims of a typical client_credentials access token (RFC 9068).
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    client_id: &'a str,
    scope: &'a str,
    tid: &'a str,
}

const NOW: i64 = 1_790_000_000;

fn claims() -> AccessClaims<'static> {
    AccessClaims {
        iss: "https://auth.example.com",
        sub: "5f0c8a7e2b9d4e61a3c7f1d08b6e2a49",
        aud: "https://api.example.com",
        exp: NOW + 3600,
        iat: NOW,
        nbf: NOW,
        jti: "0d4b3f3e9a8c4f0e8e0b1a2c3d4e5f60",
        client_id: "5f0c8a7e2b9d4e61a3c7f1d08b6e2a49",
        scope: "orders:read orders:write",
        tid: "acme",
    }
}

const KID: &str = "Q6VhpTyxmGzP9kFZ1w0aXhvq9bDJ3xX7dC3uYjG1n0s";

/// A jsonwebtoken key from the same PKCS#8 bytes (RSA: PKCS#1, which it wants).
fn jsonwebtoken_key(alg: Algorithm, pkcs8: &[u8]) -> jsonwebtoken::EncodingKey {
    match alg {
        Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
        Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(pkcs8),
        Algorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).expect("an RSA PKCS#8 key");
            jsonwebtoken::EncodingKey::from_rsa_der(key.to_pkcs1_der().expect("PKCS#1").as_bytes())
        }
    }
}

fn jsonwebtoken_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
    }
}

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    for alg in Algorithm::ALL {
        let pkcs8 = alg.generate_pkcs8().expect("a key");
        let key = SigningKey::from_der(alg, &pkcs8).expect("parses");
        let claims = claims();
        group.bench_function(BenchmarkId::new("tessera", alg), |b| {
            b.iter(|| jwt::encode(&key, KID, "at+jwt", black_box(&claims)).expect("signs"))
        });

        let other = jsonwebtoken_key(alg, &pkcs8);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken_alg(alg));
        header.kid = Some(KID.to_owned());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, &claims, &other).expect("jsonwebtoken signs");
        group.bench_function(BenchmarkId::new("jsonwebtoken", alg), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &other).expect("signs"))
        });
    }
    group.finish();
}

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for alg in Algorithm::ALL {
        let key = SigningKey::from_der(alg, &alg.generate_pkcs8().expect("a key")).expect("parses");
        let public = key.public_key();
        let token = jwt::encode(&key, KID, "at+jwt", &claims()).expect("signs");
        // What KeyService::verify does once it has found the key: parse the compact
        // JWS, check the signature, decode the claims, check the times.
        group.bench_function(BenchmarkId::new("tessera", alg), |b| {
            b.iter(|| {
                let parsed = jwt::parse(black_box(&token)).expect("parses");
                assert!(public.verify(parsed.alg, parsed.signing_input, &parsed.signature));
                let claims = parsed.claims().expect("claims");
                jwt::check_times(&claims, NOW, 60).expect("in time");
                claims
            })
        });
    }
    group.finish();
}

criterion_group!(benches, signing, verification);
criterion_main!(benches);
