//! Signing keys: the JWKS, the lifecycle on a test clock, rotation and revocation over
//! the API, encryption at rest, and what happens when things go wrong.

use chrono::{Duration, Utc};
use jsonwebtoken::jwk::JwkSet;
use reqwest::Method;
use serde_json::{json, Value};
use tessera::audit::AuditContext;
use tessera::keys::{Algorithm, JwtError, KeyService, KeyState, MasterKey, SigningKey};
use tessera::startup::Application;

use crate::helpers::{assert_api_error, spawn_app, spawn_app_with, Backend, TestApp};

crate::on_both_backends!(
    jwks_publishes_public_keys_with_cache_headers,
    tokens_of_each_algorithm_verify_with_the_published_jwks,
    lifecycle_follows_the_test_clock,
    rotation_and_revocation_through_the_api,
    private_keys_are_encrypted_at_rest,
    a_wrong_master_key_stops_the_start,
    the_jwks_survives_a_database_outage,
    simultaneous_starts_on_an_empty_database_make_one_key,
    imported_keys_verify_tokens_of_the_old_server,
);

async fn get_jwks(app: &TestApp) -> (reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

async fn jwks_publishes_public_keys_with_cache_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (headers, jwks) = get_jwks(&app).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert!(key.get("d").is_none(), "no private member");

    let max_age: u64 = headers["cache-control"]
        .to_str()
        .unwrap()
        .strip_prefix("public, max-age=")
        .expect("public caching")
        .parse()
        .unwrap();
    assert!(max_age <= app.settings.signing.prepublish_seconds);
    let etag = headers["etag"].to_str().unwrap().to_owned();

    let cached = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    let stale = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

/// A verifier that shares no code with Tessera: `jsonwebtoken` with the JWKS fetched
/// over HTTP.
pub async fn verify_independently(app: &TestApp, token: &str) -> Value {
    let jwks: JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&[&app.issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies with the JWKS")
        .claims
}

pub async fn tenant_token(app: &TestApp, tenant: &str) -> String {
    app.put_tenant(tenant, json!({})).await;
    let body = app
        .admin_json(&format!("/api/v1/tenants/{tenant}/token"))
        .await;
    body["token"].as_str().unwrap().to_owned()
}

async fn tokens_of_each_algorithm_verify_with_the_published_jwks(backend: Backend) {
    for alg in Algorithm::ALL {
        let app = spawn_app_with(backend.clone(), |s| s.signing.algorithm = alg.to_string()).await;
        let token = tenant_token(&app, "acme").await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg.as_str());
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims = verify_independently(&app, &token).await;
        assert_eq!(claims["tid"], "acme", "{alg}");

        let (_, jwks) = get_jwks(&app).await;
        let jwk = &jwks["keys"][0];
        let expected_kty = match alg {
            Algorithm::ES256 => "EC",
            Algorithm::EdDSA => "OKP",
            Algorithm::RS256 => "RSA",
        };
        assert_eq!(jwk["kty"], expected_kty);
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(jwk.get(private).is_none(), "{alg}: {private}");
        }
        if alg == Algorithm::RS256 {
            use base64::Engine;
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().unwrap())
                .unwrap();
            assert!(n.len() * 8 >= 2048);
        }
    }
}

/// Rotation with a clock the test moves: the background refresh is set far apart so
/// only the test's `now` drives the keys.
async fn lifecycle_follows_the_test_clock(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.signing.rotation_interval_seconds = 10 * 86_400;
        s.signing.prepublish_seconds = 86_400;
        s.signing.max_token_lifetime_seconds = 3_600;
        s.signing.leeway_seconds = 60;
        s.signing.refresh_seconds = 6 * 3_600;
        s.signing.jwks_max_age_seconds = Some(300);
    })
    .await;
    let keys = &app.keys;
    let t0 = Utc::now();
    let sign_at = |now: chrono::DateTime<Utc>| {
        let claims = json!({"sub": "s", "iat": now.timestamp(), "exp": (now + Duration::hours(1)).timestamp()});
        keys.sign("at+jwt", &claims, now).unwrap()
    };
    let kid_of = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let first = kid_of(&sign_at(t0));

    // Eight days in: not yet due.
    keys.tick(t0 + Duration::days(8)).await.unwrap();
    assert_eq!(keys.key_set().len(), 1);

    // Due one prepublish interval before the end: the next key is published, not signing.
    let due = t0 + Duration::days(9);
    keys.tick(due).await.unwrap();
    assert_eq!(keys.key_set().len(), 2, "the next key is in the JWKS");
    let next = keys
        .key_set()
        .kids()
        .into_iter()
        .find(|kid| *kid != first)
        .unwrap();
    assert_eq!(
        kid_of(&sign_at(due)),
        first,
        "the pending key does not sign yet"
    );
    let states: Vec<(String, KeyState)> = keys
        .list(due)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert!(
        states.contains(&(next.clone(), KeyState::Pending)),
        "{states:?}"
    );
    let jwks = get_jwks(&app).await.1;
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == next.as_str()));

    // Another tick while a key is pending changes nothing: one rotation per due time.
    keys.tick(due + Duration::hours(5)).await.unwrap();
    assert_eq!(keys.list(due).await.unwrap().len(), 2);

    // At the end of the interval the next key signs; the first retires and never signs.
    let switch = t0 + Duration::days(10);
    let old_token = sign_at(switch - Duration::minutes(10));
    assert_eq!(kid_of(&old_token), first);
    keys.tick(switch + Duration::seconds(1)).await.unwrap();
    for later in [
        switch,
        switch + Duration::minutes(1),
        switch + Duration::days(5),
    ] {
        assert_eq!(kid_of(&sign_at(later)), next, "a retired key never signs");
    }

    // The token signed before the rotation still verifies while its key is retired.
    let after_switch = switch + Duration::minutes(5);
    assert_eq!(
        keys.verify(&old_token, after_switch).await.unwrap().kid,
        first
    );
    assert_eq!(
        keys.list(after_switch)
            .await
            .unwrap()
            .iter()
            .find(|k| k.kid == first)
            .unwrap()
            .state,
        KeyState::Retired
    );

    // Once every token the first key could have signed has expired, the key is gone.
    let gone = switch + Duration::seconds(3_600 + 60);
    keys.tick(gone).await.unwrap();
    assert_eq!(keys.key_set().kids(), vec![next.clone()]);
    let listed: Vec<String> = keys
        .list(gone)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(listed, vec![next.clone()]);
    assert_eq!(
        keys.verify(&old_token, gone).await.unwrap_err(),
        JwtError::UnknownKey
    );
}

async fn rotation_and_revocation_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (first_headers, _) = get_jwks(&app).await;
    let original = app.admin_json("/api/v1/keys").await["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_token = tenant_token(&app, "acme").await;

    // A scheduled rotation: published now, signing later.
    let rotated = app
        .admin(Method::POST, "/api/v1/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let pending: Value = rotated.json().await.unwrap();
    assert_eq!(pending["state"], "pending");
    let (headers, jwks) = get_jwks(&app).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_ne!(headers["etag"], first_headers["etag"]);
    let again = app
        .admin(Method::POST, "/api/v1/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_api_error(again, 409).await;

    // An immediate rotation: the new key signs at once.
    let immediate = app
        .admin(Method::POST, "/api/v1/keys/rotate")
        .json(&json!({"immediate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(immediate.status(), 201);
    let active: Value = immediate.json().await.unwrap();
    assert_eq!(active["state"], "active");
    let new_token = tenant_token(&app, "acme").await;
    let kid = jsonwebtoken::decode_header(&new_token)
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(kid, active["kid"].as_str().unwrap());

    let listed = app.admin_json("/api/v1/keys").await;
    let state_of = |kid: &str| {
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&original), "retired");
    assert_eq!(state_of(pending["kid"].as_str().unwrap()), "pending");
    for key in listed["keys"].as_array().unwrap() {
        for field in ["kid", "alg", "state", "createdAt", "activatesAt"] {
            assert!(key.get(field).is_some(), "{field} in {key}");
        }
        assert!(key.get("privateKey").is_none() && key.get("d").is_none());
    }

    // The old token still works until its key is revoked.
    let renew = |token: String| {
        app.client
            .get(app.url("/api/v1/tenant/token"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(renew(old_token.clone()).await.unwrap().status(), 200);
    let revoked = app
        .admin(Method::DELETE, &format!("/api/v1/keys/{original}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.unwrap()["state"], "revoked");
    let (_, jwks) = get_jwks(&app).await;
    assert!(!jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == original.as_str()));
    assert_api_error(renew(old_token).await.unwrap(), 401).await;

    // Revoking the active key makes a new one active at once.
    let revoke_active = app
        .admin(Method::DELETE, &format!("/api/v1/keys/{kid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke_active.status(), 200);
    let replacement = tenant_token(&app, "acme").await;
    let replacement_kid = jsonwebtoken::decode_header(&replacement)
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(replacement_kid, kid);
    assert_api_error(renew(new_token).await.unwrap(), 401).await;
    assert_eq!(renew(replacement).await.unwrap().status(), 200);

    // A revoked key's record is deleted once its retention has passed.
    let retention =
        app.settings.signing.max_token_lifetime_seconds + app.settings.signing.leeway_seconds;
    let later = Utc::now() + Duration::seconds(retention as i64 + 1);
    app.keys.tick(later).await.unwrap();
    let kids: Vec<String> = app
        .keys
        .list(later)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(
        !kids.contains(&original) && !kids.contains(&kid),
        "{kids:?}"
    );

    let missing = app
        .admin(Method::DELETE, "/api/v1/keys/no-such-kid")
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;
    let unauthenticated = app
        .client
        .post(app.url("/api/v1/keys/rotate"))
        .send()
        .await
        .unwrap();
    assert_api_error(unauthenticated, 401).await;
}

async fn raw_key_rows(app: &TestApp) -> Vec<(String, String, Vec<u8>)> {
    let query = "SELECT kid, alg, public_jwk, private_key FROM signing_keys";
    let rows: Vec<(String, String, String, Vec<u8>)> = match &app.store {
        tessera::store::Store::Sqlite(pool) => sqlx::query_as(query).fetch_all(pool).await.unwrap(),
        tessera::store::Store::Postgres(pool) => {
            sqlx::query_as(query).fetch_all(pool).await.unwrap()
        }
    };
    rows.into_iter()
        .map(|(kid, alg, jwk, private)| (kid, format!("{alg} {jwk}"), private))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn private_keys_are_encrypted_at_rest(backend: Backend) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    app.admin(Method::POST, "/api/v1/keys/rotate")
        .send()
        .await
        .unwrap();
    let master_bytes = base64::engine::general_purpose::STANDARD
        .decode(secrecy::ExposeSecret::expose_secret(
            &app.settings.signing.master_key,
        ))
        .unwrap();
    let master = MasterKey::from_bytes(&master_bytes).unwrap();
    let rows = raw_key_rows(&app).await;
    assert_eq!(rows.len(), 2);
    for (kid, text_columns, sealed) in rows {
        let der = master
            .open(&kid, Algorithm::ES256, &sealed)
            .expect("sealed under the master key");
        SigningKey::from_der(Algorithm::ES256, &der).expect("a real private key inside");
        // The secret scalar sits in the last 32+ bytes of a P-256 PKCS#8; look for any
        // 16-byte window of the DER, raw or base64, anywhere in the row.
        for window in der.windows(16).step_by(8) {
            assert!(
                !contains(&sealed, window),
                "{kid}: plaintext key bytes stored"
            );
        }
        for encoded in [
            base64::engine::general_purpose::STANDARD.encode(&der),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der),
            hex::encode(&der),
        ] {
            assert!(
                !text_columns.contains(&encoded[..24]),
                "{kid}: encoded key stored"
            );
        }
    }
}

async fn a_wrong_master_key_stops_the_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut settings, _, database) = app.stop().await;
    let before = {
        let store = tessera::store::Store::connect(&settings.database)
            .await
            .unwrap();
        let keys = tessera::keys::list_keys(&store, Utc::now()).await.unwrap();
        store.close().await;
        keys.len()
    };
    settings.signing.master_key = secrecy::SecretString::from(crate::helpers::random_master_key());
    let error = match Application::build(settings.clone()).await {
        Ok(_) => panic!("started with the wrong master key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("do not decrypt"), "{error}");
    let store = tessera::store::Store::connect(&settings.database)
        .await
        .unwrap();
    let after = tessera::keys::list_keys(&store, Utc::now())
        .await
        .unwrap()
        .len();
    assert_eq!(
        before, after,
        "no key was generated to replace the unreadable ones"
    );
    drop(database);
}

async fn the_jwks_survives_a_database_outage(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, before) = get_jwks(&app).await;
    app.store.close().await;
    app.keys
        .tick(Utc::now())
        .await
        .expect_err("the database is gone");
    let (_, during) = get_jwks(&app).await;
    assert_eq!(before, during);
    assert!(!during["keys"].as_array().unwrap().is_empty());
}

async fn simultaneous_starts_on_an_empty_database_make_one_key(backend: Backend) {
    let database = crate::helpers::TestDatabase::create(&backend).await;
    let settings =
        crate::helpers::test_settings(&database.url, &tessera::auth::admin_key::generate_key());
    // Migrate first, as the first start would; the race is over the keys.
    let store = tessera::store::Store::connect(&settings.database)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let starts = (0..4).map(|_| {
        let settings = settings.clone();
        tokio::spawn(async move {
            let store = tessera::store::Store::connect(&settings.database)
                .await
                .unwrap();
            KeyService::start(store, &settings.signing, Utc::now())
                .await
                .unwrap()
        })
    });
    let mut services = Vec::new();
    for start in starts.collect::<Vec<_>>() {
        services.push(start.await.unwrap());
    }
    let keys = tessera::keys::list_keys(&store, Utc::now()).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let now = Utc::now();
    for service in &services {
        assert_eq!(service.key_set().active(now).unwrap().kid, keys[0].kid);
    }
}

async fn imported_keys_verify_tokens_of_the_old_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let der = Algorithm::RS256.generate_pkcs8().unwrap();
    let old_server_key = SigningKey::from_der(Algorithm::RS256, &der).unwrap();
    let now = Utc::now();
    let old_token = tessera::keys::jwt::encode(
        &old_server_key,
        "legacy-2025",
        "at+jwt",
        &json!({"iss": app.issuer, "sub": "x", "exp": (now + Duration::minutes(5)).timestamp()}),
    )
    .unwrap();
    assert_eq!(
        app.keys.verify(&old_token, now).await.unwrap_err(),
        JwtError::UnknownKey
    );

    let outcome = app
        .keys
        .import(
            Algorithm::RS256,
            der.clone(),
            Some("legacy-2025".into()),
            now,
            &AuditContext::cli(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        tessera::keys::ImportOutcome::Imported("legacy-2025".into())
    );
    assert_eq!(
        app.keys.verify(&old_token, now).await.unwrap().kid,
        "legacy-2025"
    );
    verify_independently(&app, &old_token).await;
    let listed = app.admin_json("/api/v1/keys").await;
    let imported = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "legacy-2025")
        .unwrap()
        .clone();
    assert_eq!(imported["state"], "retired", "imported keys never sign");
    assert_ne!(app.keys.key_set().active(now).unwrap().kid, "legacy-2025");

    let again = app
        .keys
        .import(
            Algorithm::RS256,
            der,
            Some("legacy-2025".into()),
            now,
            &AuditContext::cli(),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        tessera::keys::ImportOutcome::KidTaken("legacy-2025".into())
    );
}
