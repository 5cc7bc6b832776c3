//! The authorization code exchange at `/oauth/token` (issue 10): a code from the login
//! page becomes a user's session and its tokens, only for its own client, with the same
//! `redirect_uri` and the matching PKCE verifier (none when it had no challenge), once,
//! before its TTL; a replay ends the session its first use started; of 20 simultaneous
//! exchanges exactly one succeeds.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tessera::store::Store;

use crate::helpers::{eventually, spawn_app, Backend, TestApp};
use crate::keys::verify_independently;
use crate::login_flow::{authorize_query, param, set_up, Browser, Pkce, Setup, REDIRECT_URI};
use crate::token_client::{
    assert_invalid_client, assert_no_store, assert_oauth_error, form, Credentials, OAuthEndpoints,
};

crate::on_both_backends!(
    a_code_with_its_verifier_becomes_a_session_with_tokens,
    every_wrong_exchange_is_refused_and_spends_nothing,
    a_verifier_for_a_code_without_a_challenge_is_refused,
    a_public_client_exchanges_by_its_id_with_pkce,
    a_code_expires_at_its_ttl,
    a_replayed_code_ends_the_session_of_its_first_use,
    of_twenty_simultaneous_exchanges_one_succeeds,
    a_user_disabled_or_removed_meanwhile_gets_no_tokens,
    an_exchange_racing_a_disable_leaves_no_live_session,
);

/// The login page's code for `setup`'s client, with PKCE unless `pkce` is `None`, and
/// `redirect_uri` sent.
async fn code(app: &TestApp, setup: &Setup, pkce: Option<&Pkce>) -> String {
    let mut params = vec![("redirect_uri", REDIRECT_URI), ("scope", "read")];
    if let Some(pkce) = pkce {
        params.extend([
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
    }
    let query = authorize_query(&setup.client_id, &params);
    let answer = Browser::new(app).code_for(&query).await;
    param(&answer, "code").expect("a code").to_owned()
}

fn credentials(setup: &Setup) -> Credentials {
    Credentials::new(&setup.client_id, setup.client_secret.as_deref().unwrap())
}

/// `grant_type=authorization_code` with `params`, by `client` with Basic.
async fn exchange(
    app: &TestApp,
    client: &Credentials,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let mut all = vec![("grant_type", "authorization_code")];
    all.extend_from_slice(params);
    OAuthEndpoints::of(app)
        .post("/oauth/token", Some(&client.basic()), &all)
        .await
}

async fn tokens(response: reqwest::Response) -> Value {
    let status = response.status();
    assert_no_store(response.headers());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_code_with_its_verifier_becomes_a_session_with_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let pkce = Pkce::new();
    let code = code(&app, &setup, Some(&pkce)).await;
    let client = credentials(&setup);
    let body = tokens(
        exchange(
            &app,
            &client,
            &[
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert_eq!(body["expires_in"], 750);
    let refresh = body["refresh_token"]
        .as_str()
        .expect("OFFLINE + REFRESH_TOKEN");
    assert_eq!(refresh.len(), 43);
    let claims = verify_independently(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], setup.user_id.as_str());
    assert_eq!(claims["tid"], "acme");
    assert_eq!(claims["client_id"], setup.client_id.as_str());
    assert_eq!(claims["scope"], "read");
    assert!(claims["sid"].as_str().is_some_and(|sid| sid.len() == 32));
    assert!(claims["auth_time"].as_i64().is_some());
    let oauth = OAuthEndpoints::of(&app);
    assert!(
        oauth
            .is_active(&client, body["access_token"].as_str().unwrap())
            .await
    );
    let stored = app.database_text().await;
    assert!(
        !stored.contains(&code) && !stored.contains(refresh),
        "only hashes are stored"
    );

    // An ONLINE client's session gets no refresh token.
    let online = set_up_other(&app, json!({"accessType": "ONLINE"})).await;
    let code = self::code(&app, &online, None).await;
    let body = tokens(
        exchange(
            &app,
            &credentials(&online),
            &[("code", &code), ("redirect_uri", REDIRECT_URI)],
        )
        .await,
    )
    .await;
    assert!(body.get("refresh_token").is_none(), "{body}");
}

/// Another client of `acme` for the same user.
async fn set_up_other(app: &TestApp, client: Value) -> Setup {
    let mut body = json!({
        "redirectUris": [REDIRECT_URI],
        "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
        "allowedScopes": ["read", "write"],
    });
    for (key, value) in client.as_object().unwrap() {
        body[key] = value.clone();
    }
    let created = app.create_client("acme", body).await;
    let user = app.admin_json("/api/v1/users").await;
    Setup {
        client_id: created["id"].as_str().unwrap().to_owned(),
        client_secret: created["secret"].as_str().map(str::to_owned),
        user_id: user["items"][0]["id"].as_str().unwrap().to_owned(),
    }
}

async fn every_wrong_exchange_is_refused_and_spends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let other = set_up_other(&app, json!({})).await;
    let machine = app
        .create_client(
            "acme",
            json!({"grantTypes": ["CLIENT_CREDENTIALS"], "redirectUris": []}),
        )
        .await;
    let pkce = Pkce::new();
    let code = code(&app, &setup, Some(&pkce)).await;
    let client = credentials(&setup);
    let verifier = pkce.verifier.as_str();
    let wrong_verifier = Pkce::new().verifier;
    for (params, error) in [
        (
            vec![
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &wrong_verifier),
            ],
            "invalid_grant",
        ),
        (
            vec![("code", code.as_str()), ("redirect_uri", REDIRECT_URI)],
            "invalid_grant",
        ),
        (
            vec![
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", "too-short"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("code", code.as_str()),
                ("redirect_uri", "https://app.example.com/other"),
                ("code_verifier", verifier),
            ],
            "invalid_grant",
        ),
        (
            vec![("code", code.as_str()), ("code_verifier", verifier)],
            "invalid_grant",
        ),
        (
            vec![("redirect_uri", REDIRECT_URI), ("code_verifier", verifier)],
            "invalid_request",
        ),
        (
            vec![
                ("code", "no-such-code"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
            "invalid_grant",
        ),
    ] {
        let response = exchange(&app, &client, &params).await;
        assert_oauth_error(response, 400, error).await;
    }
    let right = [
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    // Another client of the same tenant and user, and a client without the grant.
    assert_oauth_error(
        exchange(&app, &credentials(&other), &right).await,
        400,
        "invalid_grant",
    )
    .await;
    let machine = Credentials::of(&machine);
    assert_oauth_error(
        exchange(&app, &machine, &right).await,
        400,
        "unauthorized_client",
    )
    .await;
    // The right client with a wrong secret, or with none.
    let wrong_secret = Credentials::new(&setup.client_id, "not-the-secret");
    assert_invalid_client(exchange(&app, &wrong_secret, &right).await, true).await;
    let mut without_secret = vec![
        ("grant_type", "authorization_code"),
        ("client_id", setup.client_id.as_str()),
    ];
    without_secret.extend_from_slice(&right);
    let response = OAuthEndpoints::of(&app)
        .post("/oauth/token", None, &without_secret)
        .await;
    assert_invalid_client(response, false).await;
    assert_eq!(sessions(&app).await, 0, "no session was started");
    // None of that spent the code.
    tokens(exchange(&app, &client, &right).await).await;
    assert_eq!(sessions(&app).await, 1);
}

async fn sessions(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM sessions";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// `(ended_at, end_reason)` of every session.
async fn session_ends(app: &TestApp) -> Vec<(Option<i64>, Option<String>)> {
    let sql = "SELECT ended_at, end_reason FROM sessions";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    }
}

async fn a_verifier_for_a_code_without_a_challenge_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let code = code(&app, &setup, None).await;
    let client = credentials(&setup);
    let downgrade = [
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &Pkce::new().verifier),
    ];
    let (_, body) = assert_oauth_error(
        exchange(&app, &client, &downgrade).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("without a code_challenge"));
    tokens(
        exchange(
            &app,
            &client,
            &[("code", &code), ("redirect_uri", REDIRECT_URI)],
        )
        .await,
    )
    .await;
}

async fn a_public_client_exchanges_by_its_id_with_pkce(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({"type": "PUBLIC"})).await;
    assert!(setup.client_secret.is_none());
    let pkce = Pkce::new();
    let code = code(&app, &setup, Some(&pkce)).await;
    let oauth = OAuthEndpoints::of(&app);
    let params = [
        ("grant_type", "authorization_code"),
        ("client_id", setup.client_id.as_str()),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
    ];
    // Without the verifier a public client's code is worth nothing.
    assert_oauth_error(
        oauth.post("/oauth/token", None, &params).await,
        400,
        "invalid_grant",
    )
    .await;
    let mut with_verifier = params.to_vec();
    with_verifier.push(("code_verifier", &pkce.verifier));
    let body = tokens(oauth.post("/oauth/token", None, &with_verifier).await).await;
    assert!(body["refresh_token"].is_string());
}

/// The `created_at` and `expires_at` of the one stored code.
async fn code_times(app: &TestApp) -> (i64, i64) {
    let sql = "SELECT created_at, expires_at FROM authorization_codes";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn a_code_expires_at_its_ttl(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let client = credentials(&setup);
    let source = IpAddr::from([127, 0, 0, 1]);
    let at = |millis: i64| DateTime::<Utc>::from_timestamp_millis(millis).unwrap();
    let body = |code: &str| {
        form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ])
    };

    let first = code(&app, &setup, None).await;
    let (created, expires) = code_times(&app).await;
    assert_eq!(
        expires - created,
        60_000,
        "tokens.authorization_code_ttl_seconds"
    );
    let refused = app
        .oauth
        .token(
            Some(&client.basic()),
            body(&first).as_bytes(),
            source,
            at(expires),
        )
        .await;
    assert!(
        matches!(refused, Err(tessera::oauth::OAuthError::InvalidGrant(_))),
        "{refused:?}"
    );

    let sql = "DELETE FROM authorization_codes";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
    }
    let second = code(&app, &setup, None).await;
    let (_, expires) = code_times(&app).await;
    let last_moment = app
        .oauth
        .token(
            Some(&client.basic()),
            body(&second).as_bytes(),
            source,
            at(expires - 1),
        )
        .await;
    assert!(last_moment.is_ok(), "{last_moment:?}");
}

async fn a_replayed_code_ends_the_session_of_its_first_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let pkce = Pkce::new();
    let code = code(&app, &setup, Some(&pkce)).await;
    let client = credentials(&setup);
    let params = [
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &pkce.verifier),
    ];
    let first = tokens(exchange(&app, &client, &params).await).await;
    let access_token = first["access_token"].as_str().unwrap().to_owned();
    let oauth = OAuthEndpoints::of(&app);
    assert!(oauth.is_active(&client, &access_token).await);

    assert_oauth_error(exchange(&app, &client, &params).await, 400, "invalid_grant").await;
    assert_eq!(session_ends(&app).await.len(), 1);
    let (ended_at, reason) = session_ends(&app).await.remove(0);
    assert!(ended_at.is_some(), "the session is over");
    assert_eq!(reason.as_deref(), Some("code_replayed"));
    let inactive = eventually(std::time::Duration::from_secs(2), || {
        let (oauth, client, token) = (oauth.clone(), client.clone(), access_token.clone());
        async move { !oauth.is_active(&client, &token).await }
    })
    .await;
    assert!(inactive.is_some(), "its access token is refused");
    // So is its refresh token, at once.
    let refresh = first["refresh_token"].as_str().unwrap();
    let response = oauth
        .post(
            "/oauth/token",
            Some(&client.basic()),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    // A third presentation is refused as well and ends nothing more.
    assert_oauth_error(exchange(&app, &client, &params).await, 400, "invalid_grant").await;
    assert_eq!(sessions(&app).await, 1);
}

async fn of_twenty_simultaneous_exchanges_one_succeeds(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let pkce = Pkce::new();
    let code = code(&app, &setup, Some(&pkce)).await;
    let client = credentials(&setup);
    let oauth = OAuthEndpoints::of(&app);
    let body = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let attempts = (0..20).map(|_| {
        let (oauth, basic) = (oauth.clone(), client.basic());
        let body: Vec<(String, String)> = body
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::spawn(async move {
            let pairs: Vec<(&str, &str)> =
                body.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let response = oauth.post("/oauth/token", Some(&basic), &pairs).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        })
    });
    let mut successes = 0;
    for attempt in join_all(attempts.collect()).await {
        let (status, body) = attempt;
        match status {
            200 => successes += 1,
            400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(successes, 1);
    assert_eq!(sessions(&app).await, 1, "one session was started");
}

async fn join_all(handles: Vec<tokio::task::JoinHandle<(u16, Value)>>) -> Vec<(u16, Value)> {
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

async fn a_user_disabled_or_removed_meanwhile_gets_no_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let client = credentials(&setup);

    let removed = code(&app, &setup, None).await;
    let response = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/acme/members/{}", setup.user_id),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let params = [("code", removed.as_str()), ("redirect_uri", REDIRECT_URI)];
    assert_oauth_error(exchange(&app, &client, &params).await, 400, "invalid_grant").await;

    crate::login_flow::add_member(&app, "acme", &setup.user_id).await;
    let disabled = code(&app, &setup, None).await;
    let response = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", setup.user_id),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let params = [("code", disabled.as_str()), ("redirect_uri", REDIRECT_URI)];
    assert_oauth_error(exchange(&app, &client, &params).await, 400, "invalid_grant").await;
    assert_eq!(sessions(&app).await, 0);
}

/// An exchange and a disable sent at once, several times: whichever commits first, the
/// user ends up with no live session (the exchange either is refused or started a
/// session that the disable then ended) and no refresh token that works.
async fn an_exchange_racing_a_disable_leaves_no_live_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(
        &app,
        json!({"grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
                                    "accessType": "OFFLINE"}),
    )
    .await;
    let client = credentials(&setup);
    let user = format!("/api/v1/users/{}", setup.user_id);
    for round in 0..8 {
        let code = code(&app, &setup, None).await;
        let params = [("code", code.as_str()), ("redirect_uri", REDIRECT_URI)];
        let disable = app
            .admin(reqwest::Method::PATCH, &user)
            .json(&json!({"enabled": false}))
            .send();
        let (exchanged, disabled) = tokio::join!(exchange(&app, &client, &params), disable);
        assert!(disabled.unwrap().status().is_success());
        let status = exchanged.status().as_u16();
        let body: Value = exchanged.json().await.unwrap();
        assert!(
            status == 200 || (status == 400 && body["error"] == "invalid_grant"),
            "round {round}: {status} {body}"
        );
        let live = session_ends(&app)
            .await
            .into_iter()
            .filter(|(ended_at, _)| ended_at.is_none())
            .count();
        assert_eq!(live, 0, "round {round}: a disabled user kept a session");
        if let Some(refresh) = body["refresh_token"].as_str() {
            let refreshed = app
                .client
                .post(app.url("/oauth/token"))
                .basic_auth(&setup.client_id, setup.client_secret.as_deref())
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
                .send()
                .await
                .unwrap();
            assert_oauth_error(refreshed, 400, "invalid_grant").await;
        }
        let enabled = app
            .admin(reqwest::Method::PATCH, &user)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        assert!(enabled.status().is_success());
    }
}
