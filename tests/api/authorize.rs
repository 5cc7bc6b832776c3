//! `GET`/`POST /oauth/authorize` and the login page (issue 10): which requests show an
//! error page and which go back to the client, redirect URI matching (exact; loopback
//! IPs on any port; `localhost` exactly), PKCE rules, the page's headers and cookie,
//! CSRF, one answer for every refused sign-in, approve and deny, and the limits on
//! failed sign-ins.

use std::net::IpAddr;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::login_flow::{
    add_member, authorize_query, param, query_of, set_up, Browser, Pkce, REDIRECT_URI, REFUSED,
    STATE, USERNAME,
};
use crate::users::{create_user, PASSWORD};

crate::on_both_backends!(
    untrusted_clients_and_redirect_uris_get_a_page_never_a_redirect,
    other_problems_go_back_to_the_client_with_state_and_iss,
    pkce_is_s256_only_and_required_of_public_clients,
    loopback_ips_match_on_any_port_and_localhost_only_exactly,
    native_apps_private_use_schemes_get_the_code,
    the_page_shows_the_request_and_is_locked_down,
    the_cookie_is_secure_under_an_https_issuer,
    forms_without_this_sessions_csrf_token_are_refused,
    sign_in_then_approve_gives_a_code_and_a_new_session_id,
    deny_and_cancel_go_back_with_access_denied,
    every_refused_sign_in_gets_one_answer,
    failed_sign_ins_are_limited_but_cannot_lock_the_user_out,
);

/// The user and PKCE challenge of the one stored code.
async fn stored_code(app: &TestApp) -> (String, Option<String>) {
    use tessera::store::Store;
    let sql = "SELECT user_id, code_challenge FROM authorization_codes";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn codes_stored(app: &TestApp) -> i64 {
    use tessera::store::Store;
    let sql = "SELECT COUNT(*) FROM authorization_codes";
    match &app.store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

fn assert_page(answer: &crate::login_flow::Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(answer.headers.get("location").is_none(), "no redirect");
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(answer.headers["x-frame-options"], "DENY");
}

/// A redirect to `redirect_uri` with `error`, the state and `iss`.
fn assert_error_redirect(
    app: &TestApp,
    answer: &crate::login_flow::Answer,
    redirect_uri: &str,
    error: &str,
) {
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.location();
    assert!(location.starts_with(redirect_uri), "{location}");
    let params = query_of(location);
    assert_eq!(param(&params, "error"), Some(error), "{location}");
    assert!(param(&params, "error_description").is_some());
    assert_eq!(param(&params, "state"), Some(STATE));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    assert!(param(&params, "code").is_none());
}

async fn untrusted_clients_and_redirect_uris_get_a_page_never_a_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let several = app
        .create_client(
            "acme",
            json!({"redirectUris": [REDIRECT_URI, "https://b.example.com/cb"], "grantTypes": ["AUTHORIZATION_CODE"]}),
        )
        .await;
    let disabled = app
        .create_client(
            "acme",
            json!({"redirectUris": [REDIRECT_URI], "grantTypes": ["AUTHORIZATION_CODE"], "enabled": false}),
        )
        .await;
    let id = setup.client_id.as_str();
    let mut browser = Browser::new(&app);
    for query in [
        String::new(),
        "response_type=code".to_owned(),
        authorize_query("no-such-client", &[("redirect_uri", REDIRECT_URI)]),
        authorize_query("bad id!", &[]),
        authorize_query(disabled["id"].as_str().unwrap(), &[]),
        authorize_query(id, &[("redirect_uri", "https://evil.example.com/callback")]),
        authorize_query(id, &[("redirect_uri", "https://app.example.com/callback/")]),
        authorize_query(
            id,
            &[("redirect_uri", "https://app.example.com/callback?x=1")],
        ),
        authorize_query(id, &[("redirect_uri", "https://APP.example.com/callback")]),
        authorize_query(several["id"].as_str().unwrap(), &[]),
        format!(
            "{}&redirect_uri=x",
            authorize_query(id, &[("redirect_uri", REDIRECT_URI)])
        ),
        format!("{}&client_id={id}", authorize_query(id, &[])),
    ] {
        let answer = browser.open(&query).await;
        assert_page(&answer, 400);
        assert!(
            answer.body.contains("cannot be used"),
            "{query}: {}",
            answer.body
        );
        let posted = browser.post(&query, &[("action", "approve")]).await;
        assert_page(&posted, 400);
    }
    // With one redirect URI registered, a request may leave it out.
    let answer = browser.open(&authorize_query(id, &[])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(codes_stored(&app).await, 0);
}

async fn other_problems_go_back_to_the_client_with_state_and_iss(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let machine = app
        .create_client(
            "acme",
            json!({"redirectUris": [REDIRECT_URI], "grantTypes": ["CLIENT_CREDENTIALS"]}),
        )
        .await;
    let id = setup.client_id.as_str();
    let with = |params: &[(&str, &str)]| {
        let mut all = vec![
            ("client_id", id),
            ("state", STATE),
            ("redirect_uri", REDIRECT_URI),
        ];
        all.extend_from_slice(params);
        crate::token_client::form(&all)
    };
    let mut browser = Browser::new(&app);
    for (query, error) in [
        (with(&[]), "invalid_request"),
        (
            with(&[("response_type", "token")]),
            "unsupported_response_type",
        ),
        (
            with(&[("response_type", "code"), ("scope", "read admin")]),
            "invalid_scope",
        ),
        (
            with(&[("response_type", "code"), ("scope", "re\"ad")]),
            "invalid_scope",
        ),
        (
            with(&[("response_type", "code"), ("tenant", "no such tenant")]),
            "invalid_request",
        ),
        // A client signs users in to its own tenant only.
        (
            with(&[("response_type", "code"), ("tenant", "other")]),
            "invalid_request",
        ),
        (
            authorize_query(machine["id"].as_str().unwrap(), &[]),
            "unauthorized_client",
        ),
    ] {
        let answer = browser.open(&query).await;
        assert_error_redirect(&app, &answer, REDIRECT_URI, error);
    }
    // A state too long to echo is refused without it.
    let long_state = "s".repeat(1025);
    let answer = browser
        .open(&crate::token_client::form(&[
            ("response_type", "code"),
            ("client_id", id),
            ("state", &long_state),
        ]))
        .await;
    assert_eq!(answer.status, 303);
    let params = query_of(answer.location());
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert_eq!(param(&params, "state"), None);
    assert_eq!(codes_stored(&app).await, 0);
}

async fn pkce_is_s256_only_and_required_of_public_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let public = app
        .create_client(
            "acme",
            json!({"redirectUris": [REDIRECT_URI], "grantTypes": ["AUTHORIZATION_CODE"], "type": "PUBLIC"}),
        )
        .await;
    let pkce = Pkce::new();
    let challenge = pkce.challenge.as_str();
    let mut browser = Browser::new(&app);
    for params in [
        vec![
            ("code_challenge", challenge),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("code_challenge", challenge),
            ("code_challenge_method", "S512"),
        ],
        vec![("code_challenge", challenge)],
        vec![("code_challenge_method", "S256")],
        vec![
            ("code_challenge", "too-short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let answer = browser
            .open(&authorize_query(&setup.client_id, &params))
            .await;
        assert_error_redirect(&app, &answer, REDIRECT_URI, "invalid_request");
    }
    let public_id = public["id"].as_str().unwrap();
    let answer = browser.open(&authorize_query(public_id, &[])).await;
    assert_error_redirect(&app, &answer, REDIRECT_URI, "invalid_request");
    assert!(param(&query_of(answer.location()), "error_description")
        .unwrap()
        .contains("PKCE"));
    let s256 = [
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for id in [public_id, setup.client_id.as_str()] {
        let answer = browser.open(&authorize_query(id, &s256)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // A confidential client may leave PKCE out.
    let answer = browser.open(&authorize_query(&setup.client_id, &[])).await;
    assert_eq!(answer.status, 200);
}

/// A public client of `acme` for the code grant (a native app), and its PKCE pair.
struct NativeApp {
    id: String,
    pkce: Pkce,
}

impl NativeApp {
    async fn register(app: &TestApp, redirect_uris: &[&str]) -> Self {
        let client = app
            .create_client(
                "acme",
                json!({
                    "redirectUris": redirect_uris,
                    "grantTypes": ["AUTHORIZATION_CODE"],
                    "type": "PUBLIC",
                }),
            )
            .await;
        NativeApp {
            id: client["id"].as_str().unwrap().to_owned(),
            pkce: Pkce::new(),
        }
    }

    /// The authorization request's query with `redirect_uri` and the S256 challenge.
    fn query(&self, redirect_uri: &str) -> String {
        authorize_query(
            &self.id,
            &[
                ("redirect_uri", redirect_uri),
                ("code_challenge", &self.pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    }
}

async fn loopback_ips_match_on_any_port_and_localhost_only_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    set_up(&app, json!({})).await;
    let native = NativeApp::register(
        &app,
        &[
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:12345/cb",
        ],
    )
    .await;
    let mut browser = Browser::new(&app);
    for accepted in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51004/cb",
        "http://127.0.0.1:1/cb",
        "http://[::1]/cb",
        "http://[::1]:65000/cb",
        "http://localhost:12345/cb",
    ] {
        let answer = browser.open(&native.query(accepted)).await;
        assert_eq!(answer.status, 200, "{accepted}: {}", answer.body);
    }
    for refused in [
        "http://localhost:51004/cb",
        "http://localhost/cb",
        "http://127.0.0.1:51004/cb/",
        "http://127.0.0.1:51004/other",
        "http://127.0.0.2:51004/cb",
        "http://127.0.0.1.evil.example/cb",
        "https://127.0.0.1:51004/cb",
    ] {
        let answer = browser.open(&native.query(refused)).await;
        assert_page(&answer, 400);
    }
    let answer = browser.open(&native.query("http://127.0.0.1:5/cb?x")).await;
    assert_page(&answer, 400);
    // The answer goes to the port the request named.
    let params = browser
        .code_for(&native.query("http://127.0.0.1:5/cb"))
        .await;
    assert!(param(&params, "code").is_some());
}

/// RFC 8252 §7.1: a native app's reverse-domain scheme is registered, matched exactly,
/// allowed as the target of the page's forms, and gets the code; a scheme that names no
/// domain is refused at registration and changes nothing.
async fn native_apps_private_use_schemes_get_the_code(backend: Backend) {
    const NATIVE: &str = "com.example.app:/oauth2redirect/example-provider";
    let app = spawn_app(backend).await;
    set_up(&app, json!({})).await;
    let native = NativeApp::register(&app, &[NATIVE]).await;
    let mut browser = Browser::new(&app);
    let page = browser.open(&native.query(NATIVE)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' com.example.app:"), "{csp}");
    for refused in [
        "com.example.app:/oauth2redirect/other",
        "com.example.evil:/oauth2redirect/example-provider",
    ] {
        assert_page(&browser.open(&native.query(refused)).await, 400);
    }
    let signed_in = browser
        .sign_in(&native.query(NATIVE), USERNAME, PASSWORD)
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let consent = browser.open(&native.query(NATIVE)).await;
    let approved = browser
        .post(
            &native.query(NATIVE),
            &[("action", "approve"), ("csrf_token", &consent.csrf_token())],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let location = approved.location();
    assert!(location.starts_with(&format!("{NATIVE}?")), "{location}");
    let params = query_of(location);
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    let code = param(&params, "code").expect("a code");
    // The app redeems it with its verifier (RFC 6749 §4.1.3, RFC 7636 §4.5).
    let exchanged = crate::token_client::OAuthEndpoints::of(&app)
        .post(
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", NATIVE),
                ("client_id", &native.id),
                ("code_verifier", &native.pkce.verifier),
            ],
        )
        .await;
    assert_eq!(exchanged.status(), 200);
    let tokens: serde_json::Value = exchanged.json().await.unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");

    // RFC 8252 §8.1: PKCE for a private-use redirect, even of a confidential client.
    let confidential = app
        .create_client(
            "acme",
            json!({"redirectUris": [NATIVE], "grantTypes": ["AUTHORIZATION_CODE"]}),
        )
        .await;
    let without_pkce = authorize_query(
        confidential["id"].as_str().unwrap(),
        &[("redirect_uri", NATIVE)],
    );
    let answer = Browser::new(&app).open(&without_pkce).await;
    assert_error_redirect(&app, &answer, NATIVE, "invalid_request");
    assert!(
        answer.location().contains("private-use"),
        "{}",
        answer.location()
    );

    let clients_before = app.get_json("/api/v1/oauth-clients?tenantId=acme").await;
    let mut body = crate::helpers::client_body("acme");
    body["redirectUris"] = json!(["myapp:/callback"]);
    let body = crate::helpers::assert_api_error(app.post_client(&body).await, 400).await;
    assert!(
        crate::helpers::causes(&body)
            .iter()
            .any(|cause| cause.contains("reverse order")),
        "{body}"
    );
    assert_eq!(
        app.get_json("/api/v1/oauth-clients?tenantId=acme").await,
        clients_before
    );
}

async fn the_page_shows_the_request_and_is_locked_down(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({"businessName": "Acme <Solar> & Co"})).await;
    let query = authorize_query(
        &setup.client_id,
        &[
            ("scope", "read"),
            ("tenant", "acme"),
            ("redirect_uri", REDIRECT_URI),
        ],
    );
    let mut browser = Browser::new(&app);
    let page = browser.open(&query).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self' https://app.example.com",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(page.body.contains("Acme Dashboard"));
    assert!(
        page.body.contains("Acme &#60;Solar&#62; &#38; Co")
            || page.body.contains("Acme &lt;Solar&gt; &amp; Co"),
        "escaped: {}",
        page.body
    );
    assert!(page.body.contains("<code>acme</code>"));
    assert!(page.body.contains(r#"<code class="scope">read</code>"#));
    assert!(!page.body.contains("<script"), "no script");
    assert!(!page.body.contains("style="), "no inline style");
    let cookie = page.set_cookie().expect("a login cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http issuer: {cookie}");

    let css = app
        .client
        .get(app.url("/oauth/assets/login.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css
        .text()
        .await
        .unwrap()
        .contains("prefers-color-scheme: dark"));
}

async fn the_cookie_is_secure_under_an_https_issuer(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = "https://auth.example.test".into()
    })
    .await;
    let setup = set_up(&app, json!({})).await;
    let response = app
        .client
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            authorize_query(&setup.client_id, &[])
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-tessera_login="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
}

async fn forms_without_this_sessions_csrf_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let query = authorize_query(&setup.client_id, &[]);
    let other_query = authorize_query(&setup.client_id, &[("scope", "read")]);
    let mut browser = Browser::new(&app);
    let page = browser.open(&query).await;
    let csrf = page.csrf_token();
    let sign_in = |csrf: &str| {
        vec![
            ("action".to_owned(), "sign-in".to_owned()),
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("username".to_owned(), USERNAME.to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
        ]
    };
    for (cookie, query, fields) in [
        // No token.
        (browser.cookie.clone(), query.clone(), sign_in("")),
        // A wrong one.
        (browser.cookie.clone(), query.clone(), sign_in("AAAA")),
        // No cookie.
        (None, query.clone(), sign_in(&csrf)),
        // A forged cookie.
        (
            Some("forged.value".to_owned()),
            query.clone(),
            sign_in(&csrf),
        ),
        // The session of another request.
        (browser.cookie.clone(), other_query.clone(), sign_in(&csrf)),
        // Approving before signing in.
        (
            browser.cookie.clone(),
            query.clone(),
            vec![
                ("action".into(), "approve".into()),
                ("csrf_token".into(), csrf.clone()),
            ],
        ),
    ] {
        let mut attacker = Browser::new(&app);
        attacker.cookie = cookie;
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = attacker.post(&query, &pairs).await;
        assert_page(&answer, 403);
        assert!(answer.body.contains("expired"), "{}", answer.body);
    }
    // An unknown action and a body that is no form are 400.
    let answer = browser
        .post(&query, &[("action", "steal"), ("csrf_token", &csrf)])
        .await;
    assert_page(&answer, 400);
    let response = browser
        .http
        .post(format!("{}/oauth/authorize?{query}", app.address))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(codes_stored(&app).await, 0);
    // The real page still works.
    let params = browser.code_for(&query).await;
    assert!(param(&params, "code").is_some());
}

async fn sign_in_then_approve_gives_a_code_and_a_new_session_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let pkce = Pkce::new();
    let query = authorize_query(
        &setup.client_id,
        &[
            ("scope", "read"),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut browser = Browser::new(&app);
    let page = browser.open(&query).await;
    let (cookie_before, csrf_before) = (browser.cookie.clone().unwrap(), page.csrf_token());
    // Opening the page again keeps the session.
    let again = browser.open(&query).await;
    assert_eq!(again.csrf_token(), csrf_before);

    let signed_in = browser
        .post(
            &query,
            &[
                ("action", "sign-in"),
                ("csrf_token", &csrf_before),
                ("username", "ALICE"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), format!("authorize?{query}"));
    let cookie_after = browser.cookie.clone().unwrap();
    assert_ne!(cookie_after, cookie_before, "a new session at sign-in");
    let consent = browser.open(&query).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("alice"), "{}", consent.body);
    assert!(consent.body.contains("<code>acme</code>"));
    assert!(consent.body.contains("https://app.example.com"));
    assert_ne!(
        consent.csrf_token(),
        csrf_before,
        "a new CSRF token at sign-in"
    );
    // The pre-sign-in token is worth nothing now.
    let stale = browser
        .post(
            &query,
            &[("action", "approve"), ("csrf_token", &csrf_before)],
        )
        .await;
    assert_page(&stale, 403);
    // Nor is the pre-sign-in cookie (someone who saw it before the password was typed).
    let mut fixated = Browser::new(&app);
    fixated.cookie = Some(cookie_before);
    let answer = fixated
        .post(
            &query,
            &[("action", "approve"), ("csrf_token", &csrf_before)],
        )
        .await;
    assert_page(&answer, 403);

    let approved = browser
        .post(
            &query,
            &[("action", "approve"), ("csrf_token", &consent.csrf_token())],
        )
        .await;
    assert_eq!(approved.status, 303);
    assert!(
        approved.set_cookie().unwrap().contains("Max-Age=0"),
        "the session ends"
    );
    assert_eq!(browser.cookie, None);
    let location = approved.location();
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?code=")),
        "{location}"
    );
    let params = query_of(location);
    let code = param(&params, "code").unwrap();
    assert_eq!(code.len(), 43, "256 bits");
    assert_eq!(param(&params, "state"), Some(STATE));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    assert_eq!(codes_stored(&app).await, 1);
    assert_eq!(
        stored_code(&app).await,
        (setup.user_id.clone(), Some(pkce.challenge.clone()))
    );
    let stored = app.database_text().await;
    assert!(!stored.contains(code), "only the code's hash is stored");
}

async fn deny_and_cancel_go_back_with_access_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    let query = authorize_query(&setup.client_id, &[]);
    // Cancel on the sign-in page.
    let mut browser = Browser::new(&app);
    let page = browser.open(&query).await;
    let answer = browser
        .post(
            &query,
            &[("action", "deny"), ("csrf_token", &page.csrf_token())],
        )
        .await;
    assert_error_redirect(&app, &answer, REDIRECT_URI, "access_denied");
    // Deny on the consent page.
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in(&query, USERNAME, PASSWORD).await.status,
        303
    );
    let consent = browser.open(&query).await;
    let answer = browser
        .post(
            &query,
            &[("action", "deny"), ("csrf_token", &consent.csrf_token())],
        )
        .await;
    assert_error_redirect(&app, &answer, REDIRECT_URI, "access_denied");
    assert_eq!(browser.cookie, None);
    assert_eq!(codes_stored(&app).await, 0);
}

async fn every_refused_sign_in_gets_one_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let setup = set_up(&app, json!({})).await;
    // bob is a user, but of no tenant the request may go to.
    let bob = create_user(&app, "bob", json!({})).await;
    app.put_tenant("other", json!({})).await;
    add_member(&app, "other", bob["id"].as_str().unwrap()).await;
    create_user(
        &app,
        "carol",
        json!({"enabled": false, "defaultTenantId": "acme"}),
    )
    .await;
    let plain = authorize_query(&setup.client_id, &[]);
    let in_acme = authorize_query(&setup.client_id, &[("tenant", "acme")]);
    let mut pages: Vec<(String, String)> = Vec::new();
    for (query, username, password) in [
        (&plain, "nobody", PASSWORD),
        (&plain, USERNAME, "wrong password"),
        (&plain, "bob", PASSWORD),
        (&in_acme, "bob", PASSWORD),
        (&plain, "carol", PASSWORD),
        (&plain, "not a valid username!", PASSWORD),
    ] {
        let mut browser = Browser::new(&app);
        let answer = browser.sign_in(query, username, password).await;
        assert_eq!(answer.status, 303, "{username}");
        assert_eq!(answer.location(), format!("authorize?{query}"));
        let page = browser.open(query).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(REFUSED), "{username}: {}", page.body);
        assert!(!page.body.contains("Approve"));
        // Once: opened again, the page no longer says it.
        assert!(!browser.open(query).await.body.contains(REFUSED));
        pages.push((query.clone(), page.body.replace(&page.csrf_token(), "")));
    }
    for (query, page) in &pages {
        let mut same_request = pages.iter().filter(|(other, _)| other == query);
        assert!(
            same_request.all(|(_, other)| other == page),
            "one answer for all"
        );
    }
    assert_eq!(codes_stored(&app).await, 0);
}

fn from(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

async fn failed_sign_ins_are_limited_but_cannot_lock_the_user_out(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login.failures_per_account_and_address_burst = 2;
        s.login.failures_per_address_burst = 4;
        s.login.failures_per_account_burst = 3;
    })
    .await;
    let setup = set_up(&app, json!({})).await;
    let query = authorize_query(&setup.client_id, &[]);
    // The user signs in from their usual address once.
    let mut user = Browser::from_address(&app, from(1));
    assert_eq!(user.sign_in(&query, USERNAME, PASSWORD).await.status, 303);

    // An attacker at .2 gets two guesses at alice, then a 429 page.
    let mut attacker = Browser::from_address(&app, from(2));
    for _ in 0..2 {
        assert_eq!(
            attacker.sign_in(&query, USERNAME, "guess").await.status,
            303
        );
    }
    let refused = attacker.sign_in(&query, USERNAME, PASSWORD).await;
    assert_page(&refused, 429);
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(refused.body.contains("Too many failed sign-ins"));
    // Two more accounts, then the address itself waits, whatever the account.
    create_user(&app, "bob", json!({"defaultTenantId": "acme"})).await;
    assert_eq!(attacker.sign_in(&query, "bob", "guess").await.status, 303);
    assert_eq!(
        attacker.sign_in(&query, "mallory", "guess").await.status,
        303
    );
    assert_page(&attacker.sign_in(&query, "bob", PASSWORD).await, 429);

    // Guesses at alice from .3 spend the account's brake: a new address waits...
    let mut second = Browser::from_address(&app, from(3));
    assert_eq!(second.sign_in(&query, USERNAME, "guess").await.status, 303);
    let mut new_place = Browser::from_address(&app, from(4));
    assert_page(&new_place.sign_in(&query, USERNAME, PASSWORD).await, 429);
    assert_eq!(
        new_place.sign_in(&query, "bob", PASSWORD).await.status,
        303,
        "bob is not braked"
    );
    // ...but the user's own address is not locked out.
    let mut user = Browser::from_address(&app, from(1));
    let answer = user.sign_in(&query, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, 303);
    assert!(user.open(&query).await.body.contains("Approve"));
}
