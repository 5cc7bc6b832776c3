//! `POST /oauth/token` with `client_credentials` (RFC 6749 §4.4): both client
//! authentication methods, the response, the JWT access token (RFC 9068) checked with
//! the JWKS by an independent library, the audience (RFC 8707), and every error with
//! its exact status, code and headers.

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tessera::audit::{Action, AuditContext};
use tessera::auth::TenantScope;
use tessera::clients::secrets::{ClientSecret, NewSecret, SecretName};
use tessera::clients::ClientId;
use tessera::config::Settings;
use tessera::store::InsertClient;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::keys::verify_independently;
use crate::token_client::{
    assert_invalid_client, assert_no_store, assert_oauth_error, basic_raw, form, Credentials,
    OAuthEndpoints,
};

crate::on_both_backends!(
    public_clients_are_known_by_id_only_where_allowed,
    basic_and_post_authentication_issue_a_verifiable_token,
    basic_credentials_are_form_urlencoded,
    any_live_named_secret_works,
    resources_choose_the_audience,
    scopes_are_checked,
    credential_failures_are_one_invalid_client,
    disabled_clients_and_deleted_or_expired_secrets_are_refused_at_once,
    grants_are_checked,
    malformed_requests_are_invalid_request,
    a_body_over_the_limit_is_refused,
    broken_credentials_never_cause_a_server_error,
    simultaneous_requests_of_a_cold_client_all_succeed,
);

/// Tests that fail authentication on purpose many times must not meet the
/// failed-authentication limiter (tested in `rate_limits`).
fn no_failure_limit(settings: &mut Settings) {
    settings.rate_limit.failed_auth_per_address_burst = 1000;
    settings.rate_limit.failed_auth_per_address_per_minute = 1000;
}

fn names(object: &Value) -> BTreeSet<String> {
    object.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

async fn basic_and_post_authentication_issue_a_verifiable_token(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = "https://auth.example.test".into();
    })
    .await;
    let created = app
        .create_client(
            "acme",
            json!({
                "accessTokenValiditySeconds": 600,
                "allowedScopes": ["read", "write"],
                "claims": [{"type": "role", "value": "admin"}, {"type": "region", "value": "eu"}],
            }),
        )
        .await;
    let client = Credentials::of(&created);
    let oauth = OAuthEndpoints::of(&app);

    let before = Utc::now().timestamp();
    let body = oauth.token_response(&client, &[]).await;
    assert_eq!(
        names(&body),
        set(&["access_token", "token_type", "expires_in", "scope"])
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read write", "no scope asked: all allowed");
    let token = body["access_token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let active = app.keys.key_set().active(Utc::now()).unwrap().kid.clone();
    assert_eq!(header.kid.as_deref(), Some(active.as_str()));
    let claims = verify_independently(&app, token).await;
    assert_eq!(
        names(&claims),
        set(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "tid",
            "role",
            "region"
        ])
    );
    assert_eq!(claims["iss"], "https://auth.example.test");
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(
        claims["aud"], "https://auth.example.test",
        "default: the issuer"
    );
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["tid"], "acme");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["region"], "eu");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=Utc::now().timestamp()).contains(&iat), "{claims}");
    assert_eq!(claims["nbf"], iat);
    assert_eq!(claims["exp"], iat + 600);

    // client_secret_post, a narrower scope, and parameters nobody knows (ignored).
    let [id, secret] = client.post();
    let response = oauth
        .post(
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "write"),
                id,
                secret,
                ("audience", "somewhere"),
                ("state", "xyz"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_no_store(response.headers());
    let posted: Value = response.json().await.unwrap();
    assert_eq!(posted["scope"], "write");
    let posted_claims = verify_independently(&app, posted["access_token"].as_str().unwrap()).await;
    assert_eq!(posted_claims["scope"], "write");
    assert_eq!(posted_claims["sub"], client.id.as_str());

    // Basic, with the same client_id in the body as well: allowed.
    let repeated_id = oauth
        .token_response(&client, &[("client_id", &client.id)])
        .await;
    let mut jtis = BTreeSet::new();
    for token in [
        token,
        posted["access_token"].as_str().unwrap(),
        repeated_id["access_token"].as_str().unwrap(),
    ] {
        let jti = verify_independently(&app, token).await["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(jti.len() >= 16, "{jti}");
        jtis.insert(jti);
    }
    for _ in 0..5 {
        let token = oauth.access_token(&client).await;
        let claims = verify_independently(&app, &token).await;
        jtis.insert(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_eq!(jtis.len(), 8, "every token has its own jti");
}

/// A client id and a secret that need form-urlencoding, stored directly (the API
/// generates URL-safe ones).
async fn client_with_unsafe_credentials(app: &TestApp) -> Credentials {
    let created = app.create_client("acme", json!({})).await;
    let template = ClientId::parse(created["id"].as_str().unwrap()).unwrap();
    let mut client = app
        .store
        .client(&template, &TenantScope::All)
        .await
        .unwrap()
        .unwrap();
    client.id = ClientId::parse("svc.acme~reporting").unwrap().to_string();
    let secret = "s3:cr+t %41&x=y/é~\"";
    let presented = ClientSecret::presented(secret);
    let stored = NewSecret {
        name: SecretName::initial(),
        display_prefix: presented.display_prefix(),
        hash: app.clients.hasher().hash(&presented),
        expires_at: None,
    };
    let inserted = app
        .store
        .insert_client(
            &client,
            Some(&stored.record()),
            app.settings.limits.clients_per_tenant,
            &AuditContext::system().record(Action::ClientCreated, &client.id, None),
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(matches!(inserted, InsertClient::Inserted));
    Credentials::new("svc.acme~reporting", secret)
}

async fn basic_credentials_are_form_urlencoded(backend: Backend) {
    let app = spawn_app_with(backend, no_failure_limit).await;
    let oauth = OAuthEndpoints::of(&app);
    let odd = client_with_unsafe_credentials(&app).await;

    let body = oauth.token_response(&odd, &[]).await;
    let claims = verify_independently(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], "svc.acme~reporting");
    let [id, secret] = odd.post();
    let posted = oauth
        .post(
            "/oauth/token",
            None,
            &[("grant_type", "client_credentials"), id, secret],
        )
        .await;
    assert_eq!(posted.status(), 200, "client_secret_post");

    // Unencoded, '+', '%41' and '&' in the secret mean something else: refused.
    let unencoded = basic_raw(&format!("{}:{}", odd.id, odd.secret));
    let response = oauth
        .post(
            "/oauth/token",
            Some(&unencoded),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_invalid_client(response, true).await;

    // Generated ids and secrets are URL-safe: encoded or not, they are the same.
    let plain = Credentials::of(&app.create_client("acme", json!({})).await);
    let unencoded = basic_raw(&format!("{}:{}", plain.id, plain.secret));
    let response = oauth
        .post(
            "/oauth/token",
            Some(&unencoded),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let needlessly_encoded = basic_raw(&format!(
        "{}%{:02X}:{}",
        &plain.id[..plain.id.len() - 1],
        plain.id.as_bytes()[plain.id.len() - 1],
        plain.secret
    ));
    let response = oauth
        .post(
            "/oauth/token",
            Some(&needlessly_encoded),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), 200, "percent-encoded ids are decoded");

    // The secret followed by anything is another secret, whatever the characters.
    for suffix in ["&", "&x=1", "=", " ", "%26junk"] {
        let longer = basic_raw(&format!("{}:{}{suffix}", plain.id, plain.secret));
        let response = oauth
            .post(
                "/oauth/token",
                Some(&longer),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(response.status(), 401, "secret + {suffix:?}");
    }
}

async fn add_secret(app: &TestApp, client: &str, body: Value) -> Value {
    let response = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/clients/{client}/tokens"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn any_live_named_secret_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let first = Credentials::of(&app.create_client("acme", json!({})).await);
    let expiring = add_secret(
        &app,
        &first.id,
        json!({"name": "rotation-2", "expiration": "2099-01-01T00:00:00"}),
    )
    .await;
    let second = Credentials::new(&first.id, expiring["token"].as_str().unwrap());
    let unlimited = add_secret(&app, &first.id, json!({"name": "rotation-3"})).await;
    let third = Credentials::new(&first.id, unlimited["token"].as_str().unwrap());
    for credentials in [&first, &second, &third, &first] {
        let token = oauth.access_token(credentials).await;
        let claims = verify_independently(&app, &token).await;
        assert_eq!(claims["sub"], first.id.as_str());
    }
    let other = Credentials::of(&app.create_client("acme", json!({})).await);
    let crossed = Credentials::new(&other.id, &second.secret);
    assert_invalid_client(oauth.token(&crossed, &[]).await, true).await;
}

async fn resources_choose_the_audience(backend: Backend) {
    let api = "https://api.example.test";
    let billing = "https://billing.example.test/v1";
    let app = spawn_app_with(backend.clone(), |s| {
        s.server.issuer = "https://auth.example.test".into();
        s.oauth.resources = vec![api.into(), billing.into()];
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);

    let aud = |body: Value| {
        let token = body["access_token"].as_str().unwrap().to_owned();
        let app = &app;
        async move { verify_independently(app, &token).await["aud"].clone() }
    };
    let none = oauth.token_response(&client, &[]).await;
    assert_eq!(aud(none).await, "https://auth.example.test");
    let one = oauth.token_response(&client, &[("resource", api)]).await;
    assert_eq!(aud(one).await, api);
    let two = oauth
        .token_response(&client, &[("resource", api), ("resource", billing)])
        .await;
    assert_eq!(aud(two).await, json!([api, billing]));

    for resource in [
        "https://other.example.test",
        "https://api.example.test/",
        "https://api.example.test#part",
        "api.example.test",
        "/relative",
        "https://api.example.tést",
    ] {
        let response = oauth.token(&client, &[("resource", resource)]).await;
        assert_oauth_error(response, 400, "invalid_target").await;
    }
    let mixed = oauth
        .token(
            &client,
            &[("resource", api), ("resource", "https://x.test")],
        )
        .await;
    assert_oauth_error(mixed, 400, "invalid_target").await;

    let configured = spawn_app_with(backend, |s| {
        s.oauth.default_audience = "https://default.example.test".into();
    })
    .await;
    let client = Credentials::of(&configured.create_client("acme", json!({})).await);
    let body = OAuthEndpoints::of(&configured)
        .token_response(&client, &[])
        .await;
    let claims = verify_independently(&configured, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "https://default.example.test");
}

async fn scopes_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let scoped = Credentials::of(
        &app.create_client(
            "acme",
            json!({"allowedScopes": ["read", "write", "idn:all"]}),
        )
        .await,
    );
    let body = oauth
        .token_response(&scoped, &[("scope", "write  read write")])
        .await;
    assert_eq!(body["scope"], "write read");
    for scope in [
        "admin",
        "read admin",
        "READ",
        "re\"ad",
        "caf\u{e9}",
        "read\\",
    ] {
        let response = oauth.token(&scoped, &[("scope", scope)]).await;
        assert_oauth_error(response, 400, "invalid_scope").await;
    }

    let unscoped = Credentials::of(&app.create_client("acme", json!({})).await);
    let body = oauth.token_response(&unscoped, &[]).await;
    assert!(body.get("scope").is_none_or(|scope| scope == ""), "{body}");
    let response = oauth.token(&unscoped, &[("scope", "read")]).await;
    assert_oauth_error(response, 400, "invalid_scope").await;
}

async fn credential_failures_are_one_invalid_client(backend: Backend) {
    let app = spawn_app_with(backend, no_failure_limit).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let grant = ("grant_type", "client_credentials");
    oauth.access_token(&client).await;

    let unknown = Credentials::new("0123456789abcdef0123456789abcdef", &client.secret);
    let wrong = Credentials::new(&client.id, "x".repeat(43).as_str());
    let unknown_basic = assert_invalid_client(oauth.token(&unknown, &[]).await, true).await;
    let wrong_basic = assert_invalid_client(oauth.token(&wrong, &[]).await, true).await;
    assert_eq!(unknown_basic, wrong_basic, "one answer for both");

    let [id, secret] = unknown.post();
    let response = oauth.post("/oauth/token", None, &[grant, id, secret]).await;
    let unknown_post = assert_invalid_client(response, false).await;
    let [id, secret] = wrong.post();
    let response = oauth.post("/oauth/token", None, &[grant, id, secret]).await;
    let wrong_post = assert_invalid_client(response, false).await;
    assert_eq!(unknown_post, wrong_post);
    assert_eq!(unknown_post, unknown_basic);

    // No secret at all: a client id alone, or nothing.
    let response = oauth
        .post("/oauth/token", None, &[grant, ("client_id", &client.id)])
        .await;
    assert_invalid_client(response, false).await;
    let response = oauth.post("/oauth/token", None, &[grant]).await;
    assert_invalid_client(response, false).await;
    let response = oauth
        .post("/oauth/token", Some("Bearer sometoken"), &[grant])
        .await;
    assert_invalid_client(response, false).await;

    // A public client has no secret to present: its id identifies it (see
    // public_clients_are_known_by_id_only_where_allowed), and a secret never does.
    let public = app
        .create_client(
            "acme",
            json!({"type": "PUBLIC", "grantTypes": ["AUTHORIZATION_CODE"]}),
        )
        .await;
    let public_id = public["id"].as_str().unwrap();
    let response = oauth
        .post("/oauth/token", None, &[grant, ("client_id", public_id)])
        .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    let guessed = Credentials::new(public_id, &client.secret);
    assert_invalid_client(oauth.token(&guessed, &[]).await, true).await;

    // Two methods at once, or two different ids: a malformed request.
    let response = oauth
        .post(
            "/oauth/token",
            Some(&client.basic()),
            &[grant, ("client_secret", &client.secret)],
        )
        .await;
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = oauth
        .post(
            "/oauth/token",
            Some(&client.basic()),
            &[grant, ("client_id", &unknown.id)],
        )
        .await;
    assert_oauth_error(response, 400, "invalid_request").await;

    oauth.access_token(&client).await;
}

async fn patch_client(app: &TestApp, id: &str, body: Value) {
    let response = app
        .admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn disabled_clients_and_deleted_or_expired_secrets_are_refused_at_once(backend: Backend) {
    let app = spawn_app_with(backend, no_failure_limit).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let [id, secret] = client.post();
    let posted = [("grant_type", "client_credentials"), id, secret];
    oauth.access_token(&client).await;

    patch_client(&app, &client.id, json!({"enabled": false})).await;
    assert_invalid_client(oauth.token(&client, &[]).await, true).await;
    let response = oauth.post("/oauth/token", None, &posted).await;
    assert_invalid_client(response, false).await;
    patch_client(&app, &client.id, json!({"enabled": true})).await;
    oauth.access_token(&client).await;

    let added = add_secret(&app, &client.id, json!({"name": "second"})).await;
    let second = Credentials::new(&client.id, added["token"].as_str().unwrap());
    oauth.access_token(&second).await;
    let deleted = app
        .admin(
            Method::DELETE,
            &format!(
                "/api/v1/tenants/clients/{}/tokens/{}",
                client.id, added["id"]
            ),
        )
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_invalid_client(oauth.token(&second, &[]).await, true).await;
    oauth.access_token(&client).await;

    // A secret that expires in a moment: it works until then, and not after.
    let expires_at = Utc::now() + Duration::milliseconds(1500);
    let added = add_secret(
        &app,
        &client.id,
        json!({"name": "brief", "expiration": expires_at.to_rfc3339_opts(SecondsFormat::Millis, true)}),
    )
    .await;
    let brief = Credentials::new(&client.id, added["token"].as_str().unwrap());
    oauth.access_token(&brief).await;
    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(50)).await;
    assert_invalid_client(oauth.token(&brief, &[]).await, true).await;
    oauth.access_token(&client).await;

    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/oauth-clients/{}", client.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_invalid_client(oauth.token(&client, &[]).await, true).await;
    let response = oauth.post("/oauth/token", None, &posted).await;
    assert_invalid_client(response, false).await;
}

async fn grants_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let interactive = Credentials::of(
        &app.create_client(
            "acme",
            json!({"grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"]}),
        )
        .await,
    );
    let response = oauth.token(&interactive, &[]).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;

    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    for grant in [
        "password",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
        "client_credentials ",
    ] {
        let response = oauth
            .post(
                "/oauth/token",
                Some(&client.basic()),
                &[
                    ("grant_type", grant),
                    ("code", "abc"),
                    ("redirect_uri", "http://localhost:12345"),
                    ("refresh_token", "abc"),
                ],
            )
            .await;
        assert_oauth_error(response, 400, "unsupported_grant_type").await;
    }
    // The code grant is served: an unknown code is the grant's own refusal.
    let response = oauth
        .post(
            "/oauth/token",
            Some(&client.basic()),
            &[
                ("grant_type", "authorization_code"),
                ("code", "abc"),
                ("redirect_uri", "http://localhost:12345"),
            ],
        )
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

async fn malformed_requests_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = oauth.access_token(&client).await;
    let basic = client.basic();
    let grant = ("grant_type", "client_credentials");

    for params in [
        vec![],
        vec![("grant_type", "")],
        vec![("scope", "read")],
        vec![grant, grant],
        vec![grant, ("grant_type", "password")],
        vec![grant, ("scope", "a"), ("scope", "b")],
    ] {
        let response = oauth.post("/oauth/token", Some(&basic), &params).await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    let [id, secret] = client.post();
    let response = oauth
        .post("/oauth/token", None, &[grant, id, secret, secret])
        .await;
    assert_oauth_error(response, 400, "invalid_request").await;

    // Only form bodies, and only POST, on each endpoint.
    for (path, params) in [
        ("/oauth/token", form(&[grant])),
        ("/oauth/introspect", form(&[("token", &token)])),
        ("/oauth/revoke", form(&[("token", &token)])),
    ] {
        let json_body = app
            .client
            .post(app.url(path))
            .header("authorization", &basic)
            .json(&json!({"grant_type": "client_credentials", "token": token}))
            .send()
            .await
            .unwrap();
        assert_oauth_error(json_body, 400, "invalid_request").await;
        let untyped = app
            .client
            .post(app.url(path))
            .header("authorization", &basic)
            .body(params.clone())
            .send()
            .await
            .unwrap();
        assert_oauth_error(untyped, 400, "invalid_request").await;
        let text = app
            .client
            .post(app.url(path))
            .header("authorization", &basic)
            .header("content-type", "text/plain")
            .body(params.clone())
            .send()
            .await
            .unwrap();
        assert_oauth_error(text, 400, "invalid_request").await;
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let response = app
                .client
                .request(method.clone(), format!("{}?{params}", app.url(path)))
                .header("authorization", &basic)
                .send()
                .await
                .unwrap();
            // RFC 9110 §15.5.6: 405 names the methods there are; the body stays OAuth's.
            assert_eq!(response.headers()["allow"], "POST");
            assert_oauth_error(response, 405, "invalid_request").await;
        }
        let with_charset = app
            .client
            .post(app.url(path))
            .header("authorization", &basic)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(params)
            .send()
            .await
            .unwrap();
        assert_eq!(with_charset.status(), 200, "{path}: a charset is fine");
    }
}

async fn a_body_over_the_limit_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.body_limit_bytes = 2048).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let padding = "x".repeat(8192);
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let response = oauth
            .post(
                path,
                Some(&client.basic()),
                &[
                    ("grant_type", "client_credentials"),
                    ("token", "t"),
                    ("padding", &padding),
                ],
            )
            .await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        let (_, body) = assert_oauth_error(response, status, "invalid_request").await;
        assert!(!body.to_string().contains("xxxx"));
    }
    oauth.access_token(&client).await;
}

async fn broken_credentials_never_cause_a_server_error(backend: Backend) {
    let app = spawn_app_with(backend, no_failure_limit).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = oauth.access_token(&client).await;
    let invalid_utf8 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b"\xff\xfe:\xc3\x28")
    };
    let basic_headers = [
        "Basic !!!".to_owned(),
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "basic".to_owned(),
        "BASIC   ".to_owned(),
        basic_raw("no-colon"),
        basic_raw(&format!(":{}", client.secret)),
        basic_raw(&format!("{}:", client.id)),
        basic_raw(":"),
        format!("Basic {invalid_utf8}"),
        basic_raw("%zz:%zz"),
        basic_raw("%FF%FE:x"),
        basic_raw(&format!("{}:%zz{}", client.id, client.secret)),
        basic_raw(&format!("{}%:{}", client.id, client.secret)),
        format!("Basic {}", "A".repeat(10_000)),
        format!("Basic {}=", &basic_raw("a:b")[6..]),
    ];
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let params = [("grant_type", "client_credentials"), ("token", &token)];
        for header in &basic_headers {
            let response = oauth.post(path, Some(header), &params).await;
            assert_invalid_client(response, true).await;
        }
        for header in ["Digest username=\"x\"", "Bearer x", "Basicx", "!"] {
            let response = oauth.post(path, Some(header), &params).await;
            assert_invalid_client(response, false).await;
        }
        let obs_text = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(b"Basic \xe9\xff").unwrap(),
            )
            .body(form(&params))
            .send()
            .await
            .unwrap();
        let status = obs_text.status().as_u16();
        assert!(status == 400 || status == 401, "{status}");

        for body in [
            "grant_type=client_credentials&client_id=%zz&client_secret=%zz".to_owned(),
            "grant_type=client_credentials&client_id=%FF%FE&client_secret=%C3%28".to_owned(),
            format!(
                "grant_type=client_credentials&client_id=%&client_secret={}&token=%zz",
                client.secret
            ),
            "%%%=%%%&&&===".to_owned(),
            "grant_type=client_credentials&client_id=a%00b&client_secret=%00".to_owned(),
        ] {
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(status == 400 || status == 401, "{path} {body}: {status}");
            assert_oauth_error(
                response,
                status,
                if status == 401 {
                    "invalid_client"
                } else {
                    "invalid_request"
                },
            )
            .await;
        }
    }
    // Broken percent-encoding in other parameters, from an authenticated client.
    for (body, error) in [
        ("grant_type=client_credentials%zz", "unsupported_grant_type"),
        ("grant_type=%FF", "unsupported_grant_type"),
        ("grant_type=client_credentials&scope=%zz", "invalid_scope"),
        (
            "grant_type=client_credentials&scope=%C3%28",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&resource=%zz",
            "invalid_target",
        ),
    ] {
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .header("authorization", client.basic())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_oauth_error(response, 400, error).await;
    }
    oauth.access_token(&client).await;
}

async fn simultaneous_requests_of_a_cold_client_all_succeed(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let (id, secret) = (client.id.clone(), client.secret.clone());
    let requests: Vec<_> = (0..16)
        .map(|n| {
            let oauth = OAuthEndpoints::at(&app.address);
            let client = client.clone();
            let (id, secret) = (id.clone(), secret.clone());
            tokio::spawn(async move {
                let response = if n % 2 == 0 {
                    oauth.token(&client, &[]).await
                } else {
                    oauth
                        .post(
                            "/oauth/token",
                            None,
                            &[
                                ("grant_type", "client_credentials"),
                                ("client_id", &id),
                                ("client_secret", &secret),
                            ],
                        )
                        .await
                };
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut jtis = BTreeSet::new();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let claims = verify_independently(&app, body["access_token"].as_str().unwrap()).await;
        jtis.insert(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_eq!(jtis.len(), 16);
}

/// A public client (no secret) is identified by its `client_id` alone at the token and
/// revocation endpoints, never at introspection; a confidential client never without
/// its secret, and an unknown id fails like a wrong secret.
async fn public_clients_are_known_by_id_only_where_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let public = app
        .create_client(
            "acme",
            json!({"type": "PUBLIC", "grantTypes": ["AUTHORIZATION_CODE"]}),
        )
        .await;
    let public_id = public["id"].as_str().unwrap();
    let confidential = app.create_client("acme", json!({})).await;
    let confidential_id = confidential["id"].as_str().unwrap();
    let by_id = |id: &str, grant: &str| {
        vec![
            ("grant_type", grant.to_owned()),
            ("client_id", id.to_owned()),
        ]
    };
    let send = |path: &'static str, params: Vec<(&'static str, String)>| {
        let oauth = oauth.clone();
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            oauth.post(path, None, &params).await
        }
    };

    // Identified, then refused for what it may not do: the grant decides.
    let response = send("/oauth/token", by_id(public_id, "client_credentials")).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    let mut refresh = by_id(public_id, "refresh_token");
    refresh.push(("refresh_token", "x".repeat(43)));
    let response = send("/oauth/token", refresh).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    // RFC 7009 §2.1: a public client may revoke (an unknown token: nothing happens).
    let mut revoke = vec![("token", "not-a-token".to_owned())];
    revoke.push(("client_id", public_id.to_owned()));
    assert_eq!(send("/oauth/revoke", revoke).await.status(), 200);
    // Introspection is for confidential clients only (RFC 7662 §2.1).
    let introspect = vec![
        ("token", "x".to_owned()),
        ("client_id", public_id.to_owned()),
    ];
    assert_invalid_client(send("/oauth/introspect", introspect).await, false).await;

    for id in [confidential_id, "0123456789abcdef0123456789abcdef"] {
        let response = send("/oauth/token", by_id(id, "client_credentials")).await;
        assert_invalid_client(response, false).await;
    }
    patch_client(&app, public_id, json!({"enabled": false})).await;
    let response = send("/oauth/token", by_id(public_id, "client_credentials")).await;
    assert_invalid_client(response, false).await;
}
