//! The state of sessions where Tessera checks its users' tokens (issue 11): the idle
//! token timeout (seed 003: its settings, its boundary, what counts as activity,
//! `preserveIdleTTL`), and logout, revoke-all, switch and timeout changes reaching a
//! second process on the same database within a second — on both databases.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, causes, eventually, spawn_app_with, Backend, TestApp};
use crate::user_tokens::{world, World};

crate::on_both_backends!(
    the_timeout_is_read_and_set_within_its_bounds,
    an_idle_session_dies_at_its_boundary,
    use_keeps_a_session_alive_and_preserve_idle_ttl_does_not_count,
    logout_and_revoke_all_reach_another_process_within_a_second,
    switches_timeouts_and_activity_reach_another_process,
);

/// The app with timeouts down to one second allowed.
async fn short_timeouts(backend: Backend) -> World {
    world(
        spawn_app_with(backend, |settings| {
            settings.tokens.idle_timeout_min_seconds = 1;
        })
        .await,
    )
    .await
}

async fn put_timeout(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.admin(Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn instant(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().expect("an instant"))
        .unwrap()
        .with_timezone(&Utc)
}

/// Sleeps until `at`.
async fn until(at: DateTime<Utc>) {
    let left = (at - Utc::now()).num_milliseconds();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
}

const PRESERVE: &str = "/api/v1/tokens/me?preserveIdleTTL=true";

async fn the_timeout_is_read_and_set_within_its_bounds(backend: Backend) {
    let world = world(spawn_app_with(backend, |_| {}).await).await;
    let app = &world.app;
    let acme = "/api/v1/tokens/timeout?tenantId=acme";
    assert_eq!(
        app.admin_json(acme).await,
        json!({"enableIdleTokenTimeout": false, "idleTokenTimeoutSeconds": 3600})
    );
    // The admin key names a tenant; unknown tenants are 404; callers must authenticate.
    let response = app
        .admin(Method::GET, "/api/v1/tokens/timeout")
        .send()
        .await
        .unwrap();
    assert_api_error(response, 400).await;
    let response = app
        .admin(Method::GET, "/api/v2/tokens/timeout?tenantId=nowhere")
        .send()
        .await
        .unwrap();
    assert_api_error(response, 404).await;
    let response = app
        .client
        .get(app.url("/api/v1/tokens/timeout"))
        .send()
        .await
        .unwrap();
    assert_api_error(response, 401).await;
    let user = world.sign_in().await;
    let response = world
        .bearer(Method::GET, "/api/v1/tokens/timeout", &user.access)
        .send()
        .await
        .unwrap();
    assert_api_error(response, 401).await;

    // A tenant admin sets its own tenant's; another tenant is absent to it (404), and
    // naming one changes nothing.
    let token = app.admin_json("/api/v1/tenants/acme/token").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 300});
    for method in [Method::GET, Method::PUT] {
        let response = world
            .bearer(method, "/api/v2/tokens/timeout?tenantId=other", &token)
            .json(&set)
            .send()
            .await
            .unwrap();
        assert_api_error(response, 404).await;
    }
    assert_eq!(
        app.admin_json(acme).await,
        json!({"enableIdleTokenTimeout": false, "idleTokenTimeoutSeconds": 3600})
    );
    let response = world
        .bearer(Method::PUT, "/api/v2/tokens/timeout?tenantId=acme", &token)
        .json(&json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), set);
    let response = world
        .bearer(Method::GET, "/api/v1/tokens/timeout", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), set);
    assert_eq!(
        app.admin_json("/api/v2/tokens/timeout?tenantId=acme").await,
        set
    );

    // Out of bounds or malformed: 400, nothing stored.
    for (body, cause) in [
        (
            json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 299}),
            "between 300 and 2592000",
        ),
        (
            json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 2_592_001}),
            "between 300 and 2592000",
        ),
        (
            json!({"enableIdleTokenTimeout": false, "idleTokenTimeoutSeconds": 0}),
            "between 300 and 2592000",
        ),
        (
            json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": -5}),
            "idleTokenTimeoutSeconds",
        ),
        (
            json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": "600"}),
            "idleTokenTimeoutSeconds",
        ),
        (
            json!({"idleTokenTimeoutSeconds": 600}),
            "enableIdleTokenTimeout",
        ),
        (json!({"enableIdleTokenTimeout": true, "idle": 600}), "idle"),
    ] {
        let response = put_timeout(app, acme, body.clone()).await;
        let error = assert_api_error(response, 400).await;
        assert!(
            causes(&error).iter().any(|text| text.contains(cause)),
            "{body}: {error}"
        );
    }
    assert_eq!(app.admin_json(acme).await, set);

    // Turned off, its length stays.
    let response = put_timeout(app, acme, json!({"enableIdleTokenTimeout": false})).await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"enableIdleTokenTimeout": false, "idleTokenTimeoutSeconds": 300})
    );
    let events = app.audit_events("").await;
    let set_events: Vec<&Value> = events
        .iter()
        .filter(|event| event["action"] == "tenant.idle_timeout_set")
        .collect();
    assert_eq!(set_events.len(), 2, "{events:?}");
    assert_eq!(set_events[0]["actor"], "admin");
    assert_eq!(set_events[1]["actor"], "tenant-admin:acme");
    assert_eq!(set_events[1]["tenantId"], "acme");
}

async fn an_idle_session_dies_at_its_boundary(backend: Backend) {
    let world = short_timeouts(backend).await;
    let pair = world.sign_in().await;
    let response = put_timeout(
        &world.app,
        "/api/v1/tokens/timeout?tenantId=acme",
        json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 2}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let turned_on = Utc::now();
    let info = world.me(&pair.access, "?preserveIdleTTL=true").await;
    let dies = instant(&info["idleExpiresAt"]);
    // Idle time counts from when the timeout was turned on: 2 s, one step (a tenth)
    // and a second.
    let left = (dies - turned_on).num_milliseconds();
    assert!((2_500..=3_200).contains(&left), "{left} ms");

    // Past the timeout itself, still inside its step and second.
    until(dies - chrono::Duration::milliseconds(600)).await;
    assert_eq!(
        world.status(Method::HEAD, PRESERVE, &pair.access).await,
        200
    );
    until(dies + chrono::Duration::milliseconds(50)).await;
    assert_eq!(
        world.status(Method::HEAD, PRESERVE, &pair.access).await,
        401
    );
    assert_eq!(
        world
            .status(Method::GET, "/api/v2/tokens/me", &pair.access)
            .await,
        401
    );
    assert!(!world.is_active(&pair.access).await);
    assert!(!world.is_active(&pair.refresh).await);
    assert!(!world.refreshes(&world.client, &pair.refresh).await);
    assert_eq!(
        world.end_reason(&pair.session).await.as_deref(),
        Some("idle_timeout")
    );

    // An idle session nobody presented an access token of dies at its refresh.
    let other = world.sign_in().await;
    let info = world.me(&other.access, "?preserveIdleTTL=true").await;
    until(instant(&info["idleExpiresAt"]) + chrono::Duration::milliseconds(50)).await;
    assert!(!world.refreshes(&world.client, &other.refresh).await);
    assert_eq!(
        world.end_reason(&other.session).await.as_deref(),
        Some("idle_timeout")
    );
}

async fn use_keeps_a_session_alive_and_preserve_idle_ttl_does_not_count(backend: Backend) {
    let world = short_timeouts(backend).await;
    put_timeout(
        &world.app,
        "/api/v1/tokens/timeout?tenantId=acme",
        json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 2}),
    )
    .await;
    let (used, watched, refreshed) = (
        world.sign_in().await,
        world.sign_in().await,
        world.sign_in().await,
    );
    let first = instant(&world.me(&watched.access, "?preserveIdleTTL=true").await["idleExpiresAt"]);
    let mut refresh = refreshed.refresh.clone();
    let mut previous = instant(&world.me(&used.access, "").await["idleExpiresAt"]);
    // For twice the whole idle time: a use every 700 ms of one session (me, HEAD,
    // introspection in turn), a refresh of another, and only checks that preserve the
    // idle time of the third.
    let end = Utc::now() + chrono::Duration::milliseconds(6_500);
    let mut turn = 0;
    while Utc::now() < end {
        tokio::time::sleep(Duration::from_millis(700)).await;
        match turn % 3 {
            0 => {
                let now = instant(&world.me(&used.access, "").await["idleExpiresAt"]);
                assert!(now > previous, "a use moves the idle expiry");
                previous = now;
            }
            1 => assert_eq!(
                world
                    .status(Method::HEAD, "/api/v1/tokens/me", &used.access)
                    .await,
                200
            ),
            _ => assert!(world.is_active(&used.access).await),
        }
        turn += 1;
        let response = world
            .oauth
            .post(
                "/oauth/token",
                Some(&world.client.basic()),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await;
        let body: Value = response.json().await.unwrap();
        refresh = body["refresh_token"]
            .as_str()
            .expect("refreshed")
            .to_owned();
        if Utc::now() < first - chrono::Duration::milliseconds(600) {
            let info = world.me(&watched.access, "?preserveIdleTTL=true").await;
            assert_eq!(instant(&info["idleExpiresAt"]), first, "preserved");
        }
    }
    assert_eq!(
        world.status(Method::HEAD, PRESERVE, &used.access).await,
        200
    );
    assert!(world.refreshes(&world.client, &refresh).await);
    assert_eq!(
        world.status(Method::HEAD, PRESERVE, &watched.access).await,
        401
    );
    assert_eq!(
        world.end_reason(&watched.session).await.as_deref(),
        Some("idle_timeout")
    );
}

/// A second process on the world's database, with its issuer.
struct Other {
    base: String,
    http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Other {
    async fn start(world: &World) -> Other {
        let mut settings = world.app.settings.clone();
        settings.server.issuer = world.app.issuer.clone();
        let other = tessera::startup::Application::build(settings)
            .await
            .expect("a second process on the same database");
        let base = format!("http://127.0.0.1:{}", other.port());
        let handle = other.handle();
        let running = tokio::spawn(other.run_until_stopped());
        Other {
            base,
            http: reqwest::Client::new(),
            handle,
            running,
        }
    }

    async fn status(&self, method: Method, path: &str, token: &str) -> u16 {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits at most a second for `path` to answer `status` to `token`.
    async fn answers_within_a_second(&self, path: &str, token: &str, status: u16) -> bool {
        eventually(Duration::from_secs(1), || async {
            self.status(Method::HEAD, path, token).await == status
        })
        .await
        .is_some()
    }

    fn oauth(&self) -> crate::token_client::OAuthEndpoints {
        crate::token_client::OAuthEndpoints::at(&self.base)
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        self.running.await.ok();
    }
}

async fn logout_and_revoke_all_reach_another_process_within_a_second(backend: Backend) {
    let world = world(spawn_app_with(backend, |_| {}).await).await;
    let other = Other::start(&world).await;
    let (one, two, three) = (
        world.sign_in().await,
        world.sign_in().await,
        world.sign_in().await,
    );
    for pair in [&one, &two, &three] {
        // The other process has read the sessions and caches them.
        assert_eq!(
            other
                .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
                .await,
            200
        );
    }
    assert_eq!(
        world
            .status(Method::DELETE, "/api/v1/tokens/me", &one.access)
            .await,
        200
    );
    assert!(
        other
            .answers_within_a_second("/api/v1/tokens/me", &one.access, 401)
            .await,
        "the other process still accepts a logged-out token"
    );
    let other_oauth = other.oauth();
    assert!(
        !other_oauth
            .is_active(&world.introspector, &one.access)
            .await
    );
    let refused = other_oauth
        .post(
            "/oauth/token",
            Some(&world.client.basic()),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &one.refresh),
            ],
        )
        .await;
    crate::token_client::assert_oauth_error(refused, 400, "invalid_grant").await;

    let response = world
        .app
        .admin(Method::DELETE, &format!("/api/v1/tokens/{}", world.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    for pair in [&two, &three] {
        assert!(
            other
                .answers_within_a_second("/api/v2/tokens/me", &pair.access, 401)
                .await,
            "the other process still accepts a revoked token"
        );
        assert!(
            !other_oauth
                .is_active(&world.introspector, &pair.access)
                .await
        );
        let refused = other_oauth
            .post(
                "/oauth/token",
                Some(&world.client.basic()),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &pair.refresh),
                ],
            )
            .await;
        crate::token_client::assert_oauth_error(refused, 400, "invalid_grant").await;
    }
    other.stop().await;
}

async fn switches_timeouts_and_activity_reach_another_process(backend: Backend) {
    let world = short_timeouts(backend).await;
    let created = world
        .app
        .create_client("globex", json!({"internal": true}))
        .await;
    assert!(created["id"].is_string());
    crate::login_flow::add_member(&world.app, "globex", &world.user_id).await;
    let other = Other::start(&world).await;
    let pair = world.sign_in().await;
    assert_eq!(
        other
            .status(Method::HEAD, "/api/v1/tokens/me", &pair.access)
            .await,
        200
    );

    let response = world
        .bearer(Method::POST, "/api/v1/tokens/switch", &pair.access)
        .json(&json!({"tenantId": "globex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let switched: Value = response.json().await.unwrap();
    let access = switched["accessToken"].as_str().unwrap().to_owned();
    assert!(
        other
            .answers_within_a_second("/api/v1/tokens/me", &pair.access, 401)
            .await,
        "the other process still accepts the old tenant's token"
    );
    assert_eq!(
        other
            .status(Method::HEAD, "/api/v1/tokens/me", &access)
            .await,
        200
    );

    // A timeout set at one process applies at the other within a second.
    let me_there = || async {
        let response = other
            .http
            .get(format!(
                "{}/api/v1/tokens/me?preserveIdleTTL=true",
                other.base
            ))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    assert!(me_there().await.get("idleExpiresAt").is_none());
    let response = put_timeout(
        &world.app,
        "/api/v1/tokens/timeout?tenantId=globex",
        json!({"enableIdleTokenTimeout": true, "idleTokenTimeoutSeconds": 2}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let applied = eventually(Duration::from_secs(1), || async {
        me_there().await.get("idleExpiresAt").is_some()
    })
    .await;
    assert!(
        applied.is_some(),
        "the other process ignores the new timeout"
    );

    // Used only at the first process, for longer than the idle time: the other process
    // sees the activity and keeps the session; once unused, it ends it there.
    let end = Utc::now() + chrono::Duration::milliseconds(5_000);
    while Utc::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            world
                .status(Method::HEAD, "/api/v1/tokens/me", &access)
                .await,
            200
        );
    }
    assert_eq!(other.status(Method::HEAD, PRESERVE, &access).await, 200);
    let dies = instant(&world.me(&access, "?preserveIdleTTL=true").await["idleExpiresAt"]);
    until(dies + chrono::Duration::milliseconds(100)).await;
    assert_eq!(other.status(Method::HEAD, PRESERVE, &access).await, 401);
    assert!(
        world.answers_within_a_second(&access).await,
        "the first process still accepts an idle session's token"
    );
    other.stop().await;
}

impl World {
    async fn answers_within_a_second(&self, token: &str) -> bool {
        eventually(Duration::from_secs(1), || async {
            self.status(Method::HEAD, PRESERVE, token).await == 401
        })
        .await
        .is_some()
    }
}
