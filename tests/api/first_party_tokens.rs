//! The first-party token API (seed 001): `POST /api/v1/tokens` (a password sign-in to a
//! tenant through an internal client) and `POST /api/v1/tokens/refresh` (the refresh
//! grant's rotation, reuse and grace rules), in every accepted body format, with the
//! login page's limits; on both databases.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use reqwest::Method;
use serde_json::{json, Value};

use crate::address_limits::client_from;
use crate::helpers::{assert_api_error, causes, spawn_app, spawn_app_with, Backend, TestApp};
use crate::sessions::{claims, signed_in};
use crate::users::{create_user, PASSWORD};

crate::on_both_backends!(
    a_sign_in_works_in_every_body_format,
    a_refresh_works_in_every_body_format,
    the_reply_is_json_api_when_asked,
    a_sign_in_goes_to_the_asked_default_or_first_tenant,
    a_named_internal_client_s_settings_apply,
    wrong_credentials_are_one_401_and_store_nothing,
    an_unknown_user_costs_what_a_wrong_password_costs,
    a_disabled_user_or_a_non_member_gets_403_and_no_token,
    bad_bodies_are_400_naming_the_field_and_other_types_415,
    failures_are_limited_without_locking_the_user_out,
    refresh_rotates_and_a_reused_token_ends_the_session,
    twenty_parallel_refreshes_give_one_successor,
    another_client_s_refresh_token_is_refused_here,
    the_builtin_client_is_outside_the_cap_and_useless_at_the_token_endpoint,
    a_disabled_builtin_client_signs_no_one_in,
    sign_ins_fail_closed_while_the_change_feed_cannot_be_read,
);

const TOKENS: &str = "/api/v1/tokens";
const REFRESH: &str = "/api/v1/tokens/refresh";

/// A tenant `acme` with the member `alice` (her default tenant), a tenant `beta` with
/// the member `bob`, and a tenant `gamma` of which alice is also a member.
async fn world(app: &TestApp) -> (String, String) {
    for tenant in ["acme", "beta", "gamma"] {
        app.put_tenant(tenant, json!({})).await;
    }
    let alice = create_user(app, "alice", json!({"defaultTenantId": "acme"})).await;
    let bob = create_user(app, "bob", json!({})).await;
    let alice = alice["id"].as_str().unwrap().to_owned();
    let bob = bob["id"].as_str().unwrap().to_owned();
    for (tenant, user) in [("acme", &alice), ("gamma", &alice), ("beta", &bob)] {
        let response = app
            .admin(
                Method::PUT,
                &format!("/api/v1/tenants/{tenant}/members/{user}"),
            )
            .json(&json!({"roles": ["member"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    (alice, bob)
}

/// A body of `fields` in one of the accepted formats, with its `Content-Type`.
fn body_in(format: &str, fields: &Value) -> (String, String) {
    let pairs: Vec<(&str, &str)> = fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str().unwrap()))
        .collect();
    match format {
        "json" => ("application/json".into(), fields.to_string()),
        "json-api" => ("application/vnd.api+json".into(), fields.to_string()),
        "json-api-document" => (
            "application/vnd.api+json".into(),
            json!({"data": {"type": "tokens", "attributes": fields}}).to_string(),
        ),
        "form" => (
            "application/x-www-form-urlencoded".into(),
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
        ),
        "multipart" => {
            let mut body = String::new();
            for (name, value) in pairs {
                body.push_str(&format!(
                    "--tessera-boundary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                ));
            }
            body.push_str("--tessera-boundary--\r\n");
            (
                "multipart/form-data; boundary=tessera-boundary".into(),
                body,
            )
        }
        other => panic!("no format {other}"),
    }
}

const FORMATS: [&str; 5] = ["json", "json-api", "json-api-document", "form", "multipart"];

async fn post_as(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    format: &str,
    fields: &Value,
) -> reqwest::Response {
    let (content_type, body) = body_in(format, fields);
    http.post(app.url(path))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, path: &str, fields: &Value) -> reqwest::Response {
    post_as(&app.client, app, path, "json", fields).await
}

/// A successful token reply: its headers checked, its body.
async fn tokens_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[PRAGMA], "no-cache");
    body
}

async fn sign_in(app: &TestApp, fields: Value) -> Value {
    tokens_of(post(app, TOKENS, &fields).await).await
}

fn alice() -> Value {
    json!({"username": "alice", "password": PASSWORD})
}

fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
        .to_owned()
}

/// The number of sessions stored, ended or not.
async fn sessions_stored(app: &TestApp) -> i64 {
    match &app.store {
        tessera::store::Store::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(pool)
            .await
            .unwrap(),
        tessera::store::Store::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
                .fetch_one(pool)
                .await
                .unwrap()
        }
    }
}

/// The built-in internal client of `tenant`, as the API lists it.
pub(crate) async fn builtin_client(app: &TestApp, tenant: &str) -> Value {
    let (status, page) = app
        .get_json(&format!("/api/v1/oauth-clients?tenantId={tenant}"))
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"]
        .as_array()
        .or_else(|| page.as_array())
        .unwrap_or_else(|| panic!("a list: {page}"))
        .clone();
    let builtin: Vec<&Value> = items
        .iter()
        .filter(|client| client["name"] == "Tessera token API")
        .collect();
    assert_eq!(builtin.len(), 1, "{page}");
    builtin[0].clone()
}

async fn a_sign_in_works_in_every_body_format(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice_id, _) = world(&app).await;
    let mut sessions = BTreeSet::new();
    for format in FORMATS {
        let body = tokens_of(post_as(&app.client, &app, TOKENS, format, &alice()).await).await;
        assert_eq!(body["tokenType"], "Bearer", "{format}");
        assert_eq!(body["tenantId"], "acme", "{format}");
        assert_eq!(body["expiresIn"], 900, "{format}: the built-in client's");
        let access = claims(&text(&body, "accessToken"));
        assert_eq!(access["sub"], alice_id.as_str());
        assert_eq!(access["tid"], "acme");
        assert_eq!(access["sid"], body["sessionId"]);
        assert!(access["auth_time"].is_i64());
        assert!(text(&body, "refreshToken").len() >= 43);
        assert!(sessions.insert(text(&body, "sessionId")), "a session each");
        let builtin = builtin_client(&app, "acme").await;
        assert_eq!(access["client_id"], builtin["id"]);
        assert_eq!(builtin["internal"], true);
    }
    assert_eq!(sessions_stored(&app).await, 5);
    // The built-in client was created once, and does not count against the cap.
    let tenant_clients = app.get_json("/api/v1/oauth-clients?tenantId=acme").await.1;
    assert!(
        tenant_clients
            .to_string()
            .matches("Tessera token API")
            .count()
            == 1,
        "{tenant_clients}"
    );
}

async fn a_refresh_works_in_every_body_format(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let first = sign_in(&app, alice()).await;
    let mut token = text(&first, "refreshToken");
    for format in FORMATS {
        let fields = json!({"refreshToken": token});
        let body = tokens_of(post_as(&app.client, &app, REFRESH, format, &fields).await).await;
        assert_eq!(body["sessionId"], first["sessionId"], "{format}");
        assert_eq!(body["tenantId"], "acme");
        assert_eq!(body["tokenType"], "Bearer");
        let access = claims(&text(&body, "accessToken"));
        assert_eq!(access["sid"], first["sessionId"]);
        let next = text(&body, "refreshToken");
        assert_ne!(next, token, "{format}: rotated");
        token = next;
    }
}

async fn the_reply_is_json_api_when_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let (content_type, body) = body_in("json-api-document", &alice());
    let response = app
        .client
        .post(app.url(TOKENS))
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT, "application/vnd.api+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], "application/vnd.api+json");
    let body = tokens_of(response).await;
    let response = app
        .client
        .post(app.url(REFRESH))
        .json(&json!({"refreshToken": body["refreshToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    tokens_of(response).await;
}

async fn a_sign_in_goes_to_the_asked_default_or_first_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice_id, _) = world(&app).await;
    let asked = sign_in(
        &app,
        json!({"username": "alice", "password": PASSWORD, "tenantId": "gamma"}),
    )
    .await;
    assert_eq!(asked["tenantId"], "gamma");
    assert_eq!(claims(&text(&asked, "accessToken"))["tid"], "gamma");
    assert_eq!(
        sign_in(&app, alice()).await["tenantId"],
        "acme",
        "the default tenant"
    );
    // Bob has no default tenant: his one membership.
    let bob = sign_in(&app, json!({"username": "BOB", "password": PASSWORD})).await;
    assert_eq!(bob["tenantId"], "beta");
    // A default tenant the user is no longer a member of: its oldest membership.
    let removed = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/tenants/acme/members/{alice_id}"),
        )
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    assert_eq!(sign_in(&app, alice()).await["tenantId"], "gamma");
}

async fn a_named_internal_client_s_settings_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let internal = app
        .create_client(
            "gamma",
            json!({"internal": true, "accessTokenValiditySeconds": 120, "allowedScopes": ["read"],
                   "claims": [{"type": "team", "value": "blue"}]}),
        )
        .await;
    let id = text(&internal, "id");
    // No tenant asked for: the client's.
    let body = sign_in(
        &app,
        json!({"username": "alice", "password": PASSWORD, "clientId": id}),
    )
    .await;
    assert_eq!(body["expiresIn"], 120);
    assert_eq!(body["tenantId"], "gamma");
    let access = claims(&text(&body, "accessToken"));
    assert_eq!(access["client_id"], id.as_str());
    assert_eq!(access["scope"], "read");
    assert_eq!(access["team"], "blue");
    assert!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap() == 120);
    let refreshed = tokens_of(
        post(
            &app,
            REFRESH,
            &json!({"refreshToken": body["refreshToken"]}),
        )
        .await,
    )
    .await;
    assert_eq!(refreshed["expiresIn"], 120);
    assert_eq!(
        claims(&text(&refreshed, "accessToken"))["client_id"],
        id.as_str()
    );

    // A client that is not internal, of another tenant, or unknown: 400, before any
    // password is checked (a wrong one is not even looked at).
    let external = text(&app.create_client("gamma", json!({})).await, "id");
    let unknown = tessera::clients::ClientId::generate().to_string();
    for (client, tenant) in [
        (external.as_str(), "gamma"),
        (id.as_str(), "acme"),
        (unknown.as_str(), "gamma"),
    ] {
        let response = post(
            &app,
            TOKENS,
            &json!({"username": "alice", "password": "wrong password", "tenantId": tenant, "clientId": client}),
        )
        .await;
        let body = assert_api_error(response, 400).await;
        assert!(causes(&body)[0].starts_with("clientId:"), "{body}");
    }
}

async fn wrong_credentials_are_one_401_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let mut texts = BTreeSet::new();
    for fields in [
        json!({"username": "alice", "password": "wrong password"}),
        json!({"username": "nobody", "password": PASSWORD}),
        json!({"username": "alice", "password": "short"}),
        json!({"username": "not a name", "password": PASSWORD}),
    ] {
        let response = post(&app, TOKENS, &fields).await;
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body = assert_api_error(response, 401).await;
        texts.insert(body["messages"][0]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        texts,
        BTreeSet::from(["The username or password is not valid.".to_owned()])
    );
    assert_eq!(sessions_stored(&app).await, 0);
}

async fn an_unknown_user_costs_what_a_wrong_password_costs(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let fastest = |username: &'static str| {
        let app = &app;
        async move {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                let response = post(
                    app,
                    TOKENS,
                    &json!({"username": username, "password": "wrong password"}),
                )
                .await;
                assert_eq!(response.status(), 401);
                best = best.min(start.elapsed());
            }
            best
        }
    };
    let (wrong_password, unknown_user) = (fastest("alice").await, fastest("nobody").await);
    assert!(
        unknown_user * 3 >= wrong_password,
        "unknown {unknown_user:?}, wrong password {wrong_password:?}"
    );
}

async fn a_disabled_user_or_a_non_member_gets_403_and_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice_id, _) = world(&app).await;
    for tenant in ["beta", "nowhere"] {
        let response = post(
            &app,
            TOKENS,
            &json!({"username": "alice", "password": PASSWORD, "tenantId": tenant}),
        )
        .await;
        let body = assert_api_error(response, 403).await;
        assert!(body.get("accessToken").is_none());
    }
    // A user with no membership at all.
    create_user(&app, "carol", json!({})).await;
    let response = post(
        &app,
        TOKENS,
        &json!({"username": "carol", "password": PASSWORD}),
    )
    .await;
    assert_api_error(response, 403).await;
    let disabled = app
        .admin(Method::PATCH, &format!("/api/v1/users/{alice_id}"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_api_error(post(&app, TOKENS, &alice()).await, 403).await;
    // Its password is still checked first: a wrong one is the one 401.
    let wrong = json!({"username": "alice", "password": "wrong password"});
    assert_api_error(post(&app, TOKENS, &wrong).await, 401).await;
    assert_eq!(sessions_stored(&app).await, 0);
}

async fn bad_bodies_are_400_naming_the_field_and_other_types_415(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    for path in [TOKENS, REFRESH] {
        for content_type in ["text/plain", "application/xml", "application/jsonx"] {
            let response = app
                .client
                .post(app.url(path))
                .header(CONTENT_TYPE, content_type)
                .body(alice().to_string())
                .send()
                .await
                .unwrap();
            assert_api_error(response, 415).await;
        }
        let response = app.client.post(app.url(path)).send().await.unwrap();
        assert_api_error(response, 415).await;
    }
    let cases = [
        (TOKENS, "json", json!({"username": "alice"}), "password"),
        (TOKENS, "form", json!({"password": PASSWORD}), "username"),
        (
            TOKENS,
            "multipart",
            json!({"username": "alice", "password": PASSWORD, "extra": "x"}),
            "extra",
        ),
        (
            TOKENS,
            "json",
            json!({"username": "alice", "password": PASSWORD, "tenantId": "Not A Tenant!"}),
            "tenantId",
        ),
        (
            TOKENS,
            "json",
            json!({"username": "alice", "password": PASSWORD, "clientId": "x"}),
            "clientId",
        ),
        (REFRESH, "json-api-document", json!({}), "refreshToken"),
    ];
    for (path, format, fields, field) in cases {
        let body =
            assert_api_error(post_as(&app.client, &app, path, format, &fields).await, 400).await;
        assert!(
            causes(&body).iter().any(|cause| cause.contains(field)),
            "{path} {format} {field}: {body}"
        );
    }
    let response = app
        .client
        .post(app.url(TOKENS))
        .json(&json!({"username": 7, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = assert_api_error(response, 400).await;
    assert!(causes(&body)[0].starts_with("username"), "{body}");
    let too_big = "x".repeat(app.settings.server.body_limit_bytes + 1);
    let response = post(
        &app,
        TOKENS,
        &json!({"username": too_big, "password": PASSWORD}),
    )
    .await;
    assert_api_error(response, 413).await;
    assert_eq!(sessions_stored(&app).await, 0);
}

async fn failures_are_limited_without_locking_the_user_out(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.login.failures_per_account_and_address_burst = 2;
        settings.login.failures_per_account_and_address_per_minute = 1;
        settings.login.failures_per_address_burst = 4;
        settings.login.failures_per_address_per_minute = 1;
        settings.login.failures_per_account_burst = 3;
        settings.login.failures_per_account_per_minute = 1;
    })
    .await;
    world(&app).await;
    let wrong = json!({"username": "alice", "password": "wrong password"});
    // Alice signs in from her usual address.
    let home = client_from(9);
    tokens_of(post_as(&home, &app, TOKENS, "json", &alice()).await).await;

    // One address: two tries at alice, then it waits, even with the right password.
    let attacker = client_from(2);
    for _ in 0..2 {
        assert_eq!(
            post_as(&attacker, &app, TOKENS, "json", &wrong)
                .await
                .status(),
            401
        );
    }
    for fields in [&wrong, &alice()] {
        let response = post_as(&attacker, &app, TOKENS, "json", fields).await;
        assert!(
            response.headers()[RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        assert_api_error(response, 429).await;
    }
    // Another address spends the account's brake for new addresses...
    let second = client_from(3);
    assert_eq!(
        post_as(&second, &app, TOKENS, "json", &wrong)
            .await
            .status(),
        401
    );
    let newcomer = client_from(4);
    assert_api_error(
        post_as(&newcomer, &app, TOKENS, "json", &alice()).await,
        429,
    )
    .await;
    // ...but alice still signs in from where she did, and others are unaffected.
    tokens_of(post_as(&home, &app, TOKENS, "json", &alice()).await).await;
    let bob = json!({"username": "bob", "password": PASSWORD});
    tokens_of(post_as(&newcomer, &app, TOKENS, "json", &bob).await).await;
}

async fn refresh_rotates_and_a_reused_token_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let first = sign_in(&app, alice()).await;
    let refresh = |token: String| {
        let app = &app;
        async move { post(app, REFRESH, &json!({"refreshToken": token})).await }
    };
    let a = text(&first, "refreshToken");
    let second = tokens_of(refresh(a.clone()).await).await;
    let b = text(&second, "refreshToken");
    let third = tokens_of(refresh(b.clone()).await).await;
    let c = text(&third, "refreshToken");
    assert_eq!(BTreeSet::from([&a, &b, &c]).len(), 3);
    // A, two rotations back, is reuse: the session ends, C with it.
    let body = assert_api_error(refresh(a).await, 401).await;
    assert_eq!(
        body["messages"][0]["text"],
        "The refresh token is invalid, expired or revoked."
    );
    assert_api_error(refresh(c).await, 401).await;
    for token in ["", "not-a-token", &"A".repeat(43)] {
        assert_api_error(refresh(token.to_owned()).await, 401).await;
    }
    let stored = app.database_text().await;
    assert!(!stored.contains(&b));
}

async fn twenty_parallel_refreshes_give_one_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    let first = text(&sign_in(&app, alice()).await, "refreshToken");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url, token) = (app.client.clone(), app.url(REFRESH), first.clone());
        tasks.spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"refreshToken": token}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let outcomes = tasks.join_all().await;
    let successors: BTreeSet<String> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| text(body, "refreshToken"))
        .collect();
    // With the default grace period, every one gets the same successor; none a 5xx.
    assert_eq!(successors.len(), 1, "one successor: {outcomes:?}");
    for (status, body) in &outcomes {
        assert!(*status == 200 || *status == 401, "{status} {body}");
    }
    let successor = successors.into_iter().next().unwrap();
    tokens_of(post(&app, REFRESH, &json!({"refreshToken": successor})).await).await;
}

async fn another_client_s_refresh_token_is_refused_here(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = signed_in(app, json!({})).await;
    let started = world.start(&[]).await;
    let token = started.refresh_token.as_ref().unwrap().expose().to_owned();
    let response = post(&world.app, REFRESH, &json!({"refreshToken": token})).await;
    assert_api_error(response, 401).await;
    // Untouched: it still refreshes where it belongs, with its client's secret.
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str()),
    ];
    let response = world
        .oauth
        .post("/oauth/token", Some(&world.client.basic()), &params)
        .await;
    assert_eq!(response.status(), 200);
}

async fn the_builtin_client_is_outside_the_cap_and_useless_at_the_token_endpoint(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.limits.clients_per_tenant = 1).await;
    world(&app).await;
    sign_in(&app, alice()).await;
    let builtin = builtin_client(&app, "acme").await;
    assert_eq!(builtin["grantTypes"], json!([]));
    // The tenant's one client of its own still fits.
    app.create_client("acme", json!({})).await;
    // No secret and no grant: nothing to get at /oauth/token.
    let params = [
        ("grant_type", "client_credentials"),
        ("client_id", builtin["id"].as_str().unwrap()),
        ("client_secret", "anything"),
    ];
    let response = crate::token_client::OAuthEndpoints::of(&app)
        .post("/oauth/token", None, &params)
        .await;
    assert_eq!(response.status(), 401);
}

/// Disabling the tenant's built-in client stops its password sign-ins: 403, no token.
async fn a_disabled_builtin_client_signs_no_one_in(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    sign_in(&app, alice()).await;
    let builtin = builtin_client(&app, "acme").await;
    let disabled = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/oauth-clients/{}", builtin["id"].as_str().unwrap()),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(disabled.status().is_success(), "{}", disabled.status());
    let response = post(&app, TOKENS, &alice()).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("accessToken").is_none(), "{body}");
}

/// While the change feed cannot be read, a password sign-in is 503 with `Retry-After`
/// and starts nothing, though the database itself answers (the key that would sign its
/// tokens may have been revoked elsewhere); once the feed is back, sign-ins work again.
async fn sign_ins_fail_closed_while_the_change_feed_cannot_be_read(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app).await;
    sign_in(&app, alice()).await;

    app.hide_change_feed(true).await;
    crate::helpers::eventually(Duration::from_secs(15), || async {
        post(&app, TOKENS, &alice()).await.status() == 503
    })
    .await
    .expect("sign-ins are refused once the feed cannot be read");
    let sessions_before = sessions_stored(&app).await;
    let response = post(&app, TOKENS, &alice()).await;
    assert!(response.headers().contains_key(RETRY_AFTER));
    assert_api_error(response, 503).await;
    assert_eq!(
        sessions_stored(&app).await,
        sessions_before,
        "nothing started"
    );

    app.hide_change_feed(false).await;
    crate::helpers::eventually(Duration::from_secs(15), || async {
        post(&app, TOKENS, &alice()).await.status() == 200
    })
    .await
    .expect("sign-ins work again once the feed is read");
    assert!(sessions_stored(&app).await > sessions_before);
}
