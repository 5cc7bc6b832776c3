//! `POST /oauth/introspect` (RFC 7662): the claims of an active token of the caller's
//! tenant, and `{"active": false}` with nothing more for everything else: expired,
//! revoked, forged or tampered tokens, headers Tessera never issues, revoked and
//! unknown keys, disabled or deleted clients, deleted tenants, other tenants' tokens,
//! tenant admin tokens and strings that are no JWT at all.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tessera::audit::AuditContext;
use tessera::keys::{Algorithm, SigningKey};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::keys::{tenant_token, verify_independently};
use crate::token_client::{assert_invalid_client, assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    active_tokens_show_their_claims_to_their_tenant_only,
    callers_must_authenticate_and_name_a_token,
    expired_and_forged_claims_are_inactive,
    headers_tessera_never_issues_are_inactive,
    tokens_of_revoked_keys_are_inactive,
    revoked_and_foreign_tokens_are_inactive,
    tokens_of_disabled_or_deleted_clients_are_inactive,
    tokens_of_a_deleted_tenant_are_inactive,
);

/// Two clients of `acme` (one owns tokens, the other asks about them) and one of
/// `globex`.
struct World {
    app: TestApp,
    oauth: OAuthEndpoints,
    owner: Credentials,
    peer: Credentials,
    stranger: Credentials,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(
        &app.create_client(
            "acme",
            json!({"allowedScopes": ["read"], "claims": [{"type": "role", "value": "reporter"}]}),
        )
        .await,
    );
    let peer = Credentials::of(&app.create_client("acme", json!({})).await);
    let stranger = Credentials::of(&app.create_client("globex", json!({})).await);
    World {
        app,
        oauth,
        owner,
        peer,
        stranger,
    }
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn active_tokens_show_their_claims_to_their_tenant_only(backend: Backend) {
    let World {
        app,
        oauth,
        owner,
        peer,
        stranger,
    } = world(backend).await;
    let token = oauth.access_token(&owner).await;
    let claims = verify_independently(&app, &token).await;

    let answer = oauth.introspect(&peer, &token).await;
    let mut expected = claims.as_object().unwrap().clone();
    expected.insert("active".into(), json!(true));
    expected.insert("token_type".into(), json!("Bearer"));
    assert_eq!(answer, Value::Object(expected));
    assert_eq!(answer["role"], "reporter");
    assert_eq!(answer["scope"], "read");
    assert_eq!(answer["client_id"], owner.id.as_str());
    assert_eq!(oauth.introspect(&owner, &token).await, answer);

    // client_secret_post, with a token_type_hint that changes nothing.
    let [id, secret] = peer.post();
    let response = oauth
        .post(
            "/oauth/introspect",
            None,
            &[
                ("token", &token),
                ("token_type_hint", "refresh_token"),
                id,
                secret,
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), answer);

    // Another tenant's client learns nothing.
    assert_eq!(oauth.introspect(&stranger, &token).await, inactive());
    let theirs = oauth.access_token(&stranger).await;
    assert_eq!(oauth.introspect(&owner, &theirs).await, inactive());
    assert_eq!(oauth.introspect(&stranger, &theirs).await["active"], true);
}

async fn callers_must_authenticate_and_name_a_token(backend: Backend) {
    let World {
        app: _app,
        oauth,
        owner,
        peer,
        ..
    } = world(backend).await;
    let token = oauth.access_token(&owner).await;

    let missing = oauth
        .post("/oauth/introspect", Some(&peer.basic()), &[])
        .await;
    assert_oauth_error(missing, 400, "invalid_request").await;
    let empty = oauth
        .post("/oauth/introspect", Some(&peer.basic()), &[("token", "")])
        .await;
    assert_oauth_error(empty, 400, "invalid_request").await;
    let twice = oauth
        .post(
            "/oauth/introspect",
            Some(&peer.basic()),
            &[("token", &token), ("token", &token)],
        )
        .await;
    assert_oauth_error(twice, 400, "invalid_request").await;

    let wrong = Credentials::new(&peer.id, &owner.secret);
    let response = oauth
        .post(
            "/oauth/introspect",
            Some(&wrong.basic()),
            &[("token", &token)],
        )
        .await;
    assert_invalid_client(response, true).await;
    let unknown = Credentials::new("nobody", &peer.secret);
    let [id, secret] = unknown.post();
    let response = oauth
        .post("/oauth/introspect", None, &[("token", &token), id, secret])
        .await;
    assert_invalid_client(response, false).await;
    let anonymous = oauth
        .post("/oauth/introspect", None, &[("token", &token)])
        .await;
    assert_invalid_client(anonymous, false).await;
    // A token is not a credential for introspection.
    let bearer = oauth
        .post(
            "/oauth/introspect",
            Some(&format!("Bearer {token}")),
            &[("token", &token)],
        )
        .await;
    assert_invalid_client(bearer, false).await;
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The claims of a real token of `owner`, with a fresh `jti`.
async fn real_claims(world: &World) -> Map<String, Value> {
    let token = world.oauth.access_token(&world.owner).await;
    let mut claims = verify_independently(&world.app, &token)
        .await
        .as_object()
        .unwrap()
        .clone();
    claims.insert("jti".into(), json!(tessera::ids::random_id()));
    claims
}

async fn expired_and_forged_claims_are_inactive(backend: Backend) {
    let world = world(backend).await;
    let World {
        app, oauth, peer, ..
    } = &world;
    let now = Utc::now();
    let sign = |claims: &Map<String, Value>, typ: &str| app.keys.sign(typ, claims, now).unwrap();
    let base = real_claims(&world).await;
    let control = sign(&base, "at+jwt");
    assert_eq!(
        oauth.introspect(peer, &control).await["active"],
        true,
        "a token signed here with a real token's claims is active"
    );

    let hour = Duration::hours(1);
    let mut cases: Vec<(&str, Map<String, Value>, &str)> = Vec::new();
    let mut with = |name: &'static str, change: &dyn Fn(&mut Map<String, Value>), typ| {
        let mut claims = base.clone();
        change(&mut claims);
        cases.push((name, claims, typ));
    };
    with(
        "expired",
        &|c| {
            c.insert("iat".into(), json!((now - hour * 2).timestamp()));
            c.insert("nbf".into(), json!((now - hour * 2).timestamp()));
            c.insert("exp".into(), json!((now - hour).timestamp()));
        },
        "at+jwt",
    );
    // Verification tolerates signing.leeway_seconds of clock skew; a token past its
    // exp is still expired, and a revoked one must not come back once the deny-list
    // forgets it at exp.
    with(
        "expired seconds ago",
        &|c| {
            c.insert("iat".into(), json!((now - hour).timestamp()));
            c.insert("nbf".into(), json!((now - hour).timestamp()));
            c.insert(
                "exp".into(),
                json!((now - Duration::seconds(5)).timestamp()),
            );
        },
        "at+jwt",
    );
    with(
        "not yet valid",
        &|c| {
            c.insert("nbf".into(), json!((now + hour).timestamp()));
            c.insert("exp".into(), json!((now + hour * 2).timestamp()));
        },
        "at+jwt",
    );
    with(
        "no exp",
        &|c| {
            c.remove("exp");
        },
        "at+jwt",
    );
    with(
        "another issuer",
        &|c| {
            c.insert("iss".into(), json!("https://evil.example"));
        },
        "at+jwt",
    );
    with(
        "no client",
        &|c| {
            c.remove("client_id");
        },
        "at+jwt",
    );
    with(
        "unknown client",
        &|c| {
            c.insert(
                "client_id".into(),
                json!("0123456789abcdef0123456789abcdef"),
            );
        },
        "at+jwt",
    );
    let stranger_id = world.stranger.id.clone();
    with(
        "a client of another tenant",
        &|c| {
            c.insert("client_id".into(), json!(stranger_id));
        },
        "at+jwt",
    );
    with("not an access token", &|_| {}, "JWT");
    for (name, claims, typ) in &cases {
        let token = sign(claims, typ);
        assert_eq!(oauth.introspect(peer, &token).await, inactive(), "{name}");
    }

    // Tampering: a changed payload under the old signature, a changed signature.
    let parts: Vec<&str> = control.split('.').collect();
    let mut widened = base.clone();
    widened.insert("scope".into(), json!("read admin"));
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        encode_json(&Value::Object(widened)),
        parts[2]
    );
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let tampered_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(&signature)
    );
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]);
    for (name, token) in [
        ("payload", tampered_payload),
        ("signature", tampered_signature),
        ("truncated signature", truncated),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
    ] {
        assert_eq!(oauth.introspect(peer, &token).await, inactive(), "{name}");
    }
    assert_eq!(oauth.introspect(peer, &control).await["active"], true);
}

/// A compact JWS with exactly this header, signed by `key` (or not at all).
fn jws(header: &Value, claims: &Map<String, Value>, key: Option<&SigningKey>) -> String {
    let input = format!("{}.{}", encode_json(header), encode_json(&json!(claims)));
    let signature = key.map_or_else(Vec::new, |key| key.sign(input.as_bytes()).unwrap());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Tokens signed with a key Tessera publishes (an imported one, so the test can sign
/// with any header), valid but for one thing Tessera never issues.
async fn headers_tessera_never_issues_are_inactive(backend: Backend) {
    let world = world(backend).await;
    let World {
        app, oauth, peer, ..
    } = &world;
    let der = Algorithm::ES256.generate_pkcs8().unwrap();
    let key = SigningKey::from_der(Algorithm::ES256, &der).unwrap();
    app.keys
        .import(
            Algorithm::ES256,
            der,
            Some("imported-1".into()),
            Utc::now(),
            &AuditContext::cli(),
        )
        .await
        .unwrap();
    let claims = real_claims(&world).await;
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "imported-1"});
    let control = jws(&header, &claims, Some(&key));
    assert_eq!(oauth.introspect(peer, &control).await["active"], true);

    let with = |name: &str, value: Value| {
        let mut header = header.clone();
        header[name] = value;
        header
    };
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "imported-1")
        .unwrap()
        .clone();
    // HS256 keyed with public material: the classic algorithm confusion.
    let hs256 = {
        let header = with("alg", json!("HS256"));
        let input = format!("{}.{}", encode_json(&header), encode_json(&json!(claims)));
        let mut tokens = Vec::new();
        for secret in [public_jwk.to_string(), public_jwk["x"].to_string()] {
            let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            let tag = ring::hmac::sign(&mac, input.as_bytes());
            tokens.push(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())));
        }
        tokens
    };
    let mut cases: Vec<(String, String)> = vec![
        (
            "alg none, unsigned".into(),
            jws(&with("alg", json!("none")), &claims, None),
        ),
        (
            "alg None, unsigned".into(),
            jws(&with("alg", json!("None")), &claims, None),
        ),
        (
            "alg none, signed".into(),
            jws(&with("alg", json!("none")), &claims, Some(&key)),
        ),
        (
            "alg ES384".into(),
            jws(&with("alg", json!("ES384")), &claims, Some(&key)),
        ),
        (
            "alg RS256".into(),
            jws(&with("alg", json!("RS256")), &claims, Some(&key)),
        ),
        (
            "alg EdDSA".into(),
            jws(&with("alg", json!("EdDSA")), &claims, Some(&key)),
        ),
        (
            "jku".into(),
            jws(
                &with("jku", json!("https://evil.example/jwks.json")),
                &claims,
                Some(&key),
            ),
        ),
        (
            "jwk".into(),
            jws(&with("jwk", public_jwk.clone()), &claims, Some(&key)),
        ),
        (
            "x5u".into(),
            jws(
                &with("x5u", json!("https://evil.example/cert.pem")),
                &claims,
                Some(&key),
            ),
        ),
        (
            "x5c".into(),
            jws(&with("x5c", json!(["MIIB"])), &claims, Some(&key)),
        ),
        (
            "crit".into(),
            jws(&with("crit", json!(["exp"])), &claims, Some(&key)),
        ),
        (
            "unknown kid".into(),
            jws(&with("kid", json!("no-such-key")), &claims, Some(&key)),
        ),
        ("kid of another key".into(), {
            let active = app.keys.key_set().active(Utc::now()).unwrap().kid.clone();
            jws(&with("kid", json!(active)), &claims, Some(&key))
        }),
        ("no typ".into(), {
            let mut header = header.clone();
            header.as_object_mut().unwrap().remove("typ");
            jws(&header, &claims, Some(&key))
        }),
        ("no kid".into(), {
            let mut header = header.clone();
            header.as_object_mut().unwrap().remove("kid");
            jws(&header, &claims, Some(&key))
        }),
    ];
    for (n, token) in hs256.into_iter().enumerate() {
        cases.push((format!("HS256 #{n}"), token));
    }
    for (name, token) in cases {
        assert_eq!(oauth.introspect(peer, &token).await, inactive(), "{name}");
    }

    // The imported key revoked: what it signed is no longer active.
    let revoked = app
        .admin(Method::DELETE, "/api/v1/keys/imported-1")
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(oauth.introspect(peer, &control).await, inactive());
}

async fn tokens_of_revoked_keys_are_inactive(backend: Backend) {
    let World {
        app,
        oauth,
        owner,
        peer,
        ..
    } = world(backend).await;
    let token = oauth.access_token(&owner).await;
    let old_kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let rotated = app
        .admin(Method::POST, "/api/v1/keys/rotate")
        .json(&json!({"immediate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let newer = oauth.access_token(&owner).await;
    assert_ne!(
        jsonwebtoken::decode_header(&newer).unwrap().kid.unwrap(),
        old_kid
    );
    assert_eq!(
        oauth.introspect(&peer, &token).await["active"],
        true,
        "a retired key's tokens stay active"
    );
    let revoked = app
        .admin(Method::DELETE, &format!("/api/v1/keys/{old_kid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(oauth.introspect(&peer, &token).await, inactive());
    assert_eq!(oauth.introspect(&peer, &newer).await["active"], true);
}

async fn revoked_and_foreign_tokens_are_inactive(backend: Backend) {
    let World {
        app,
        oauth,
        owner,
        peer,
        ..
    } = world(backend).await;
    let token = oauth.access_token(&owner).await;
    oauth.revoke(&owner, &[("token", &token)]).await;
    assert_eq!(oauth.introspect(&peer, &token).await, inactive());

    let tenant_admin = tenant_token(&app, "acme").await;
    let refresh_like = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let live = oauth.access_token(&owner).await;
    let parts: Vec<&str> = live.split('.').collect();
    let garbage: Vec<(&str, String)> = vec![
        ("a tenant admin token", tenant_admin),
        ("a refresh-token-like string", refresh_like),
        ("the admin key", app.admin_key.clone()),
        ("a client secret", owner.secret.clone()),
        ("text", "hello".into()),
        ("dots", "..".into()),
        ("three parts", "a.b.c".into()),
        ("empty objects", "e30.e30.e30".into()),
        ("four parts", format!("{live}.{}", parts[2])),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("padded", format!("{}=.{}.{}", parts[0], parts[1], parts[2])),
        ("spaces", format!(" {live} ")),
        ("long", "A".repeat(20_000)),
        ("unicode", "t\u{f6}ken.\u{1f511}.x".into()),
    ];
    for (name, token) in garbage {
        assert_eq!(oauth.introspect(&peer, &token).await, inactive(), "{name}");
    }
    assert_eq!(oauth.introspect(&peer, &live).await["active"], true);
}

async fn patch_enabled(app: &TestApp, id: &str, enabled: bool) {
    let response = app
        .admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
        .json(&json!({"enabled": enabled}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn tokens_of_disabled_or_deleted_clients_are_inactive(backend: Backend) {
    let World {
        app,
        oauth,
        owner,
        peer,
        ..
    } = world(backend).await;
    let token = oauth.access_token(&owner).await;
    assert_eq!(oauth.introspect(&peer, &token).await["active"], true);
    patch_enabled(&app, &owner.id, false).await;
    assert_eq!(oauth.introspect(&peer, &token).await, inactive());
    patch_enabled(&app, &owner.id, true).await;

    let another = Credentials::of(&app.create_client("acme", json!({})).await);
    let theirs = oauth.access_token(&another).await;
    assert_eq!(oauth.introspect(&peer, &theirs).await["active"], true);
    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/oauth-clients/{}", another.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(oauth.introspect(&peer, &theirs).await, inactive());

    // A disabled caller cannot introspect at all.
    patch_enabled(&app, &peer.id, false).await;
    let response = oauth
        .post(
            "/oauth/introspect",
            Some(&peer.basic()),
            &[("token", &token)],
        )
        .await;
    assert_invalid_client(response, true).await;
}

async fn tokens_of_a_deleted_tenant_are_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(&app.create_client("initech", json!({})).await);
    let caller = Credentials::of(&app.create_client("initech", json!({})).await);
    let token = oauth.access_token(&owner).await;
    assert_eq!(oauth.introspect(&caller, &token).await["active"], true);

    let deleted = app
        .admin(Method::DELETE, "/api/v1/tenants/initech")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    // Its clients went with it, callers included.
    let response = oauth
        .post(
            "/oauth/introspect",
            Some(&caller.basic()),
            &[("token", &token)],
        )
        .await;
    assert_invalid_client(response, true).await;
    assert_invalid_client(oauth.token(&owner, &[]).await, true).await;

    // A new tenant of the same name does not bring the old tokens back.
    let newcomer = Credentials::of(&app.create_client("initech", json!({})).await);
    assert_eq!(oauth.introspect(&newcomer, &token).await, inactive());
    let names: BTreeSet<String> = oauth
        .introspect(&newcomer, &oauth.access_token(&newcomer).await)
        .await
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(names.contains("active") && names.contains("tid"));
}
