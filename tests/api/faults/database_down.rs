//! PostgreSQL stopped under a serving process (a private cluster: the shared server
//! stays up): `/readyz` turns 503 within about a second, token requests and
//! introspection are refused with a JSON 503 (never a token, never `active: true`, as
//! this process can no longer learn of revocations), and everything works again when
//! the database returns, with no restart. On both databases, a closed pool does the
//! same to clients this process has cached.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_api_error, eventually, spawn_app, spawn_app_with, Backend, TestApp};
use crate::private_postgres::PrivatePostgres;
use crate::sessions::{signed_in, SignedIn};
use crate::token_client::{assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(cached_clients_get_no_tokens_once_the_feed_cannot_be_read);

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz answers")
        .status()
        .as_u16()
}

/// Neither a token nor an answer about one: a JSON 503 with `Retry-After`.
async fn assert_refused_for_now(response: reqwest::Response) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    assert_oauth_error(response, 503, "temporarily_unavailable").await;
    let retry_after: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(retry_after >= 1);
}

#[tokio::test]
async fn postgres_stopped_fails_closed_and_recovers_without_a_restart() {
    let Some(mut postgres) = PrivatePostgres::start() else {
        return;
    };
    let app = spawn_app_with(Backend::Postgres(postgres.url()), |_| {}).await;
    let signed = signed_in(app, json!({})).await;
    let user_token = user_token(&signed).await;
    let SignedIn { app, oauth, .. } = &signed;
    let caller = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = oauth.access_token(&caller).await;
    assert!(oauth.is_active(&caller, &token).await);
    assert_eq!(token_info(app, &user_token).await.status(), 200);
    assert_eq!(readyz(app).await, 200);

    postgres.stop_immediately();
    let stopped = Instant::now();
    let noticed = eventually(Duration::from_secs(5), || async {
        readyz(app).await == 503
    })
    .await
    .expect("/readyz turns 503 while the database is down");
    // Generous bounds: the machine running the tests may be loaded.
    assert!(
        noticed < Duration::from_secs(5),
        "/readyz noticed only after {noticed:?}"
    );
    // The feed's poller, not the probe, decides that memory is stale: within its
    // deadline of the stop.
    eventually(Duration::from_secs(5), || async {
        oauth.token(&caller, &[]).await.status() == 503
    })
    .await
    .expect("token requests are refused once the feed cannot be read");

    // From then on, for as long as the database is down: refused, at once.
    let refusing_since = Instant::now();
    while refusing_since.elapsed() < Duration::from_millis(1500) {
        let asked = Instant::now();
        assert_refused_for_now(oauth.token(&caller, &[]).await).await;
        assert_refused_for_now(
            oauth
                .post(
                    "/oauth/introspect",
                    Some(&caller.basic()),
                    &[("token", &token)],
                )
                .await,
        )
        .await;
        assert_api_error(token_info(app, &user_token).await, 503).await;
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "refusals wait for nothing: {:?}",
            asked.elapsed()
        );
        assert_eq!(readyz(app).await, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process itself stays up");
    eprintln!(
        "/readyz 503 after {noticed:?}; database down for {:?}",
        stopped.elapsed()
    );

    postgres.start_again();
    let recovered = eventually(Duration::from_secs(30), || async {
        readyz(app).await == 200 && oauth.token(&caller, &[]).await.status() == 200
    })
    .await
    .expect("ready and issuing tokens again, without a restart");
    assert!(
        recovered < Duration::from_secs(20),
        "recovery took {recovered:?}"
    );
    eprintln!("ready and issuing again {recovered:?} after the database returned");
    assert!(oauth.is_active(&caller, &token).await);
    let fresh = oauth.access_token(&caller).await;
    assert!(oauth.is_active(&caller, &fresh).await);
    assert_eq!(token_info(app, &user_token).await.status(), 200);
}

/// A client this process has cached would get its tokens from memory alone; once the
/// change feed cannot be read (here the pool is closed, which SQLite can do too), it is
/// refused within about a second, like every other.
async fn cached_clients_get_no_tokens_once_the_feed_cannot_be_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let caller = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = oauth.access_token(&caller).await;
    assert!(
        oauth.is_active(&caller, &token).await,
        "the client is cached"
    );

    app.store.close().await;
    let refused = eventually(Duration::from_secs(5), || async {
        oauth.token(&caller, &[]).await.status() == 503
    })
    .await
    .expect("token requests are refused once the feed cannot be read");
    assert!(
        refused < Duration::from_secs(5),
        "refused after {refused:?}"
    );
    assert_refused_for_now(oauth.token(&caller, &[]).await).await;
    assert_refused_for_now(
        oauth
            .post(
                "/oauth/introspect",
                Some(&caller.basic()),
                &[("token", &token)],
            )
            .await,
    )
    .await;
    assert_eq!(readyz(&app).await, 503);
}

/// A user's access token, of a session started as the code exchange starts one.
async fn user_token(signed: &SignedIn) -> String {
    let started = signed.start(&["read"]).await;
    signed
        .access_token(&started.session_id, &["read"], chrono::Utc::now())
        .await
}

/// `GET /api/v1/tokens/me`, the user-token API answered from memory.
async fn token_info(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/tokens/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("token info answers")
}
