//! `GET /metrics`: what a scrape shows after tokens, failed authentications and rate-limit
//! refusals; route labels that are templates, never paths or ids; the admin API key on
//! the main listener, or an open listener of its own (`server.metrics_listen`); and the
//! gauges read from the pool, the keys and the change feed when scraped, on both
//! databases. Each server has a recorder of its own, so every count here is exact.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::address_limits::client_from;
use crate::helpers::{eventually, spawn_app, spawn_app_with, Backend, TestApp};
use crate::token_client::{Credentials, OAuthEndpoints};
use crate::users::{create_user, PASSWORD};

crate::on_both_backends!(
    a_token_a_failed_authentication_and_a_refusal_are_counted,
    the_state_gauges_are_read_when_scraped,
);

/// The text of `GET /metrics` on the main listener, with the admin API key.
async fn scrape(app: &TestApp) -> String {
    let response = app.admin(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_exposition(response).await
}

/// Checks the content type of the text format; returns the text.
async fn assert_exposition(response: reqwest::Response) -> String {
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.text().await.unwrap()
}

/// The value of `series` (its name and labels exactly as rendered), if it is there.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn requests(text: &str, route: &str, method: &str, status: u16) -> Option<f64> {
    value(
        text,
        &format!(
            "tessera_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
        ),
    )
}

async fn a_token_a_failed_authentication_and_a_refusal_are_counted(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 3;
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    oauth.access_token(&client).await;
    let wrong = Credentials::new(&client.id, "not-the-secret");
    assert_eq!(oauth.token(&wrong, &[]).await.status(), 401);
    // The rest of the burst (one more may refill while they are sent), then a refusal.
    let mut issued = 1;
    loop {
        match oauth.token(&client, &[]).await.status().as_u16() {
            200 => issued += 1,
            429 => break,
            other => panic!("unexpected {other}"),
        }
        assert!(issued < 10, "never limited");
    }

    let text = scrape(&app).await;
    let issued = f64::from(issued);
    let tokens = |grant: &str| {
        value(
            &text,
            &format!("tessera_tokens_issued_total{{grant=\"{grant}\"}}"),
        )
    };
    assert_eq!(tokens("client_credentials"), Some(issued), "{text}");
    assert_eq!(tokens("authorization_code"), Some(0.0));
    assert_eq!(tokens("refresh_token"), Some(0.0));
    let failures = |kind: &str| {
        value(
            &text,
            &format!("tessera_authentication_failures_total{{kind=\"{kind}\"}}"),
        )
    };
    assert_eq!(failures("client"), Some(1.0));
    assert_eq!(failures("user"), Some(0.0));
    assert_eq!(failures("admin"), Some(0.0));
    assert_eq!(
        value(&text, "tessera_rate_limited_total{limit=\"client\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "tessera_rate_limited_total{limit=\"address\"}"),
        Some(0.0)
    );
    assert_eq!(requests(&text, "/oauth/token", "POST", 200), Some(issued));
    assert_eq!(requests(&text, "/oauth/token", "POST", 401), Some(1.0));
    assert_eq!(requests(&text, "/oauth/token", "POST", 429), Some(1.0));
    assert_eq!(
        value(
            &text,
            "tessera_http_request_duration_seconds_count{route=\"/oauth/token\",method=\"POST\"}"
        ),
        Some(issued + 2.0),
        "{text}"
    );
    // The first lookup read the database; the others found the client in memory.
    let cache = |result: &str| {
        value(
            &text,
            &format!("tessera_cache_requests_total{{cache=\"clients\",result=\"{result}\"}}"),
        )
        .unwrap()
    };
    assert!(cache("miss") >= 1.0, "{text}");
    assert!(cache("hit") >= issued, "{text}");
    assert!(!text.contains(&client.id), "a client id is never a label");
    assert!(!text.contains(&client.secret));
    assert!(!text.contains("acme"), "nor a tenant id");
}

#[tokio::test]
async fn route_labels_are_templates_never_paths() {
    let app = spawn_app(Backend::Sqlite).await;
    app.put_tenant("tenant-one-7f3a", json!({})).await;
    app.get_tenant("tenant-one-7f3a").await;
    app.get_tenant("tenant-two-9c1b").await;
    let unmatched = app
        .client
        .get(app.url("/no/such/path-5e2d"))
        .send()
        .await
        .unwrap();
    assert_eq!(unmatched.status(), 404);
    let brewed = app
        .client
        .request(Method::from_bytes(b"BREW").unwrap(), app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(brewed.status(), 405);

    let text = scrape(&app).await;
    let tenant = "/api/v1/tenants/{tenantId}";
    assert_eq!(requests(&text, tenant, "PUT", 201), Some(1.0), "{text}");
    assert_eq!(requests(&text, tenant, "GET", 200), Some(1.0));
    assert_eq!(requests(&text, tenant, "GET", 404), Some(1.0));
    assert_eq!(requests(&text, "unmatched", "GET", 404), Some(1.0));
    assert_eq!(requests(&text, "/healthz", "other", 405), Some(1.0));
    for raw in ["tenant-one-7f3a", "tenant-two-9c1b", "path-5e2d", "BREW"] {
        assert!(!text.contains(raw), "{raw} in {text}");
    }
}

#[tokio::test]
async fn the_main_listener_serves_metrics_to_the_admin_key_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-admin-key-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    app.put_tenant("acme", json!({})).await;
    let tenant_token: serde_json::Value = app
        .admin(Method::GET, "/api/v1/tenants/acme/token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant_admin = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(tenant_token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tenant_admin.status(), 403, "not another tenant's business");

    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            "tessera_authentication_failures_total{kind=\"admin\"}"
        ),
        Some(1.0),
        "the wrong key; a missing one is no attempt"
    );
    assert_eq!(
        value(&text, "tessera_tokens_issued_total{grant=\"tenant_admin\"}"),
        Some(1.0)
    );
    assert_eq!(requests(&text, "/metrics", "GET", 401), Some(2.0), "{text}");
    assert_eq!(requests(&text, "/metrics", "GET", 403), Some(1.0));
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_serves_them_openly_and_the_main_one_then_does_not() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.metrics_listen = "127.0.0.1:0".into();
    })
    .await;
    let metrics_address = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(metrics_address, app.address);
    let on_main = app.admin(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(on_main.status(), 404);

    let open = app
        .client
        .get(format!("{metrics_address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let text = assert_exposition(open).await;
    assert!(
        text.contains("# TYPE tessera_tokens_issued_total counter"),
        "{text}"
    );
    assert_eq!(
        requests(&text, "unmatched", "GET", 404),
        Some(1.0),
        "the main listener's 404: {text}"
    );
    // Only /metrics is served there.
    for path in ["/healthz", "/oauth/token", "/api/v1/tenants/acme"] {
        let response = app
            .client
            .get(format!("{metrics_address}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// The address limit refuses before any work; the scrape comes from another address
/// (its own bucket).
#[tokio::test]
async fn an_address_limit_refusal_is_counted_under_its_route() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.address_requests_per_second = 1;
        s.rate_limit.address_burst = 2;
    })
    .await;
    let noisy = client_from(77);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = noisy.get(app.url("/api/v1/keys")).send().await.unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "tessera_rate_limited_total{limit=\"address\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "tessera_rate_limited_total{limit=\"global\"}"),
        Some(0.0)
    );
    assert_eq!(
        requests(&text, "/api/v1/keys", "GET", 429),
        Some(1.0),
        "{text}"
    );
}

/// Failed sign-ins (an unknown user is one) count as user failures; past the login
/// limit they are refused and counted there instead.
#[tokio::test]
async fn a_failed_sign_in_and_a_login_refusal_are_counted() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.login.failures_per_account_and_address_burst = 1;
        s.login.failures_per_account_and_address_per_minute = 1;
    })
    .await;
    let sign_in = || {
        app.client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"username": "nobody", "password": "wrong password"}))
            .send()
    };
    assert_eq!(sign_in().await.unwrap().status(), 401);
    assert_eq!(sign_in().await.unwrap().status(), 429);

    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            "tessera_authentication_failures_total{kind=\"user\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "tessera_rate_limited_total{limit=\"login\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "tessera_tokens_issued_total{grant=\"password\"}"),
        Some(0.0)
    );
    assert!(!text.contains("nobody"));
}

async fn the_state_gauges_are_read_when_scraped(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_client("acme", json!({})).await;
    let text = scrape(&app).await;

    let gauge = |series: &str| value(&text, series).unwrap_or_else(|| panic!("{series}: {text}"));
    assert_eq!(
        gauge("tessera_db_pool_max"),
        4.0,
        "the tests' database.max_connections"
    );
    let idle = gauge("tessera_db_pool_connections{state=\"idle\"}");
    let in_use = gauge("tessera_db_pool_connections{state=\"in_use\"}");
    // Connections were opened; a background poll may hold one as the scrape reads.
    let open = idle + in_use;
    assert!(
        (1.0..=4.0).contains(&open) && idle >= 0.0 && in_use >= 0.0,
        "{idle} + {in_use}"
    );

    // The key made at the first start signs now; the next one in 30 days.
    let age = gauge("tessera_signing_key_age_seconds");
    assert!((0.0..120.0).contains(&age), "{age}");
    let rotation_interval = app.settings.signing.rotation_interval_seconds as f64;
    let next = gauge("tessera_signing_key_next_rotation_seconds");
    assert!(
        (next - (rotation_interval - age)).abs() < 5.0,
        "{next} {age}"
    );

    // The client's creation went through the feed, which this process has read.
    let lag = gauge("tessera_change_feed_lag_seconds");
    assert!((0.0..5.0).contains(&lag), "{lag}");
    let sequence = gauge("tessera_change_feed_last_sequence");
    assert!(sequence >= 1.0, "{sequence}");
    // No user token was checked: the session cache was never asked.
    assert_eq!(
        gauge("tessera_cache_requests_total{cache=\"sessions\",result=\"miss\"}"),
        0.0
    );
    // Other tests in this process may be hashing: only that the gauges are there.
    assert!(gauge("tessera_password_hash_queue") >= 0.0);
    assert!(gauge("tessera_password_hash_running") >= 0.0);

    // A scheduled rotation: the pending key signs after signing.prepublish_seconds.
    let rotated = app
        .admin(Method::POST, "/api/v1/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let text = scrape(&app).await;
    let next = value(&text, "tessera_signing_key_next_rotation_seconds").unwrap();
    let prepublish = app.settings.signing.prepublish_seconds as f64;
    assert!((prepublish - 5.0..=prepublish).contains(&next), "{next}");
    // The rotation is a change too, which the next poll reads.
    let read = eventually(Duration::from_secs(5), || async {
        let text = scrape(&app).await;
        value(&text, "tessera_change_feed_last_sequence").unwrap() > sequence
    })
    .await;
    assert!(read.is_some(), "the feed never moved past {sequence}");
}

/// A password sign-in is a `password` token; checking its token twice asks the session
/// cache twice: one miss (the database read), then a hit.
#[tokio::test]
async fn a_password_sign_in_and_its_session_checks_are_counted() {
    let app = spawn_app(Backend::Sqlite).await;
    app.put_tenant("acme", json!({})).await;
    let user = create_user(&app, "alice", json!({"defaultTenantId": "acme"})).await;
    let member = app
        .admin(
            Method::PUT,
            &format!(
                "/api/v1/tenants/acme/members/{}",
                user["id"].as_str().unwrap()
            ),
        )
        .json(&json!({"roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), 201);
    let signed_in: serde_json::Value = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = signed_in["accessToken"].as_str().expect("an access token");
    for _ in 0..2 {
        let me = app
            .client
            .get(app.url("/api/v1/tokens/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }

    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "tessera_tokens_issued_total{grant=\"password\"}"),
        Some(1.0),
        "{text}"
    );
    let sessions = |result: &str| {
        value(
            &text,
            &format!("tessera_cache_requests_total{{cache=\"sessions\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(sessions("miss"), Some(1.0), "{text}");
    assert_eq!(sessions("hit"), Some(1.0));
    assert_eq!(requests(&text, "/api/v1/tokens/me", "GET", 200), Some(2.0));
    assert!(
        !text.contains(user["id"].as_str().unwrap()),
        "a user id is never a label"
    );
    assert!(!text.contains("alice"));
}
