//! Failures fail closed and say so: introspection that cannot reach the database
//! answers 503 with `Retry-After`, never `active: true` and never an `active: false`
//! that would read as a revocation.

use serde_json::json;

use crate::helpers::{spawn_app_with, Backend};
use crate::token_client::{assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(introspection_without_the_database_is_503);

async fn introspection_without_the_database_is_503(backend: Backend) {
    // One issuer across the restart (a derived one follows the port); no warm-up, so the
    // restarted process has not read the token's client.
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = "http://tessera.test".into();
        s.oauth.client_cache_warm_seconds = 0;
    })
    .await;
    let caller = Credentials::of(&app.create_client("acme", json!({})).await);
    let holder = Credentials::of(&app.create_client("acme", json!({})).await);
    let oauth = OAuthEndpoints::of(&app);
    let token = oauth.access_token(&holder).await;

    // A fresh process knows only what it reads: the caller, once it has introspected.
    let app = app.restart().await;
    let oauth = OAuthEndpoints::of(&app);
    assert!(!oauth.is_active(&caller, "not-a-token").await);
    app.store.close().await;
    // A token the cached caller may see, whose client this process has not read yet.

    let response = oauth
        .post(
            "/oauth/introspect",
            Some(&caller.basic()),
            &[("token", &token)],
        )
        .await;
    assert_eq!(response.status(), 503, "{:?}", response.headers());
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    assert_oauth_error(response, 503, "temporarily_unavailable").await;
}
