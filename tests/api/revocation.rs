//! `POST /oauth/revoke` (RFC 7009): a client revokes its own access tokens, which
//! introspection then reports inactive, across a restart and in another process;
//! anything else is accepted and changes nothing.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::helpers::{eventually, spawn_app, spawn_app_with, Backend};
use crate::keys::{tenant_token, verify_independently};
use crate::process::{replica, Running, REPLICA_ISSUER};
use crate::token_client::{assert_invalid_client, assert_oauth_error, Credentials, OAuthEndpoints};

crate::on_both_backends!(
    a_client_revokes_its_own_tokens,
    unknown_tokens_are_accepted_foreign_ones_refused_and_all_kept,
    callers_must_authenticate_and_name_a_token,
    revocation_survives_a_restart,
    revocation_reaches_another_process,
);

/// The issue: changes reach every other process within one second.
const PROPAGATION: Duration = Duration::from_secs(1);

async fn a_client_revokes_its_own_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(&app.create_client("acme", json!({})).await);
    let peer = Credentials::of(&app.create_client("acme", json!({})).await);
    let tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for _ in 0..5 {
            tokens.push(oauth.access_token(&owner).await);
        }
        tokens
    };
    for token in &tokens {
        assert!(oauth.is_active(&peer, token).await);
    }

    oauth.revoke(&owner, &[("token", &tokens[0])]).await;
    assert!(!oauth.is_active(&peer, &tokens[0]).await);
    assert!(!oauth.is_active(&owner, &tokens[0]).await);
    assert!(oauth.is_active(&peer, &tokens[1]).await, "only that token");
    oauth.revoke(&owner, &[("token", &tokens[0])]).await;

    // token_type_hint is a hint: right, wrong or unknown, the token is revoked.
    for (token, hint) in [
        (&tokens[1], "access_token"),
        (&tokens[2], "refresh_token"),
        (&tokens[3], "something_else"),
    ] {
        oauth
            .revoke(&owner, &[("token", token), ("token_type_hint", hint)])
            .await;
        assert!(!oauth.is_active(&peer, token).await, "hint {hint}");
    }
    // client_secret_post.
    let [id, secret] = owner.post();
    let response = oauth
        .post("/oauth/revoke", None, &[("token", &tokens[4]), id, secret])
        .await;
    assert_eq!(response.status(), 200);
    assert!(!oauth.is_active(&peer, &tokens[4]).await);

    // The client itself carries on.
    let fresh = oauth.access_token(&owner).await;
    assert!(oauth.is_active(&peer, &fresh).await);
}

async fn unknown_tokens_are_accepted_foreign_ones_refused_and_all_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(&app.create_client("acme", json!({})).await);
    let peer = Credentials::of(&app.create_client("acme", json!({})).await);
    let stranger = Credentials::of(&app.create_client("globex", json!({})).await);
    let token = oauth.access_token(&owner).await;
    let admin_token = tenant_token(&app, "acme").await;
    let expired = {
        let mut claims: Map<String, Value> = verify_independently(&app, &token)
            .await
            .as_object()
            .unwrap()
            .clone();
        claims.insert("jti".into(), json!("expired-one"));
        claims.insert("exp".into(), json!(Utc::now().timestamp() - 3600));
        app.keys.sign("at+jwt", &claims, Utc::now()).unwrap()
    };
    // Warm up every caller so the database holds what it will hold.
    for caller in [&owner, &peer, &stranger] {
        oauth.access_token(caller).await;
    }
    let before = app.database_text().await;

    let refresh_like = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    // RFC 7009 §2.1: a token issued to another client (or to Tessera itself, as a
    // tenant admin token is) is refused, and stays valid.
    for (caller, foreign) in [
        (&peer, token.as_str()),
        (&stranger, token.as_str()),
        (&owner, admin_token.as_str()),
    ] {
        let refused = oauth
            .post(
                "/oauth/revoke",
                Some(&caller.basic()),
                &[("token", foreign)],
            )
            .await;
        assert_oauth_error(refused, 400, "unauthorized_client").await;
    }
    for (caller, revoked) in [
        (&owner, expired.as_str()),
        (&owner, refresh_like.as_str()),
        (&owner, "not-a-token"),
        (&owner, "a.b.c"),
    ] {
        oauth.revoke(caller, &[("token", revoked)]).await;
    }
    assert!(
        oauth.is_active(&owner, &token).await,
        "another client's token stays"
    );
    assert_eq!(app.database_text().await, before, "nothing was stored");
    let renewed = app
        .client
        .get(app.url("/api/v1/tenant/token"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200, "the tenant admin token still works");
}

async fn callers_must_authenticate_and_name_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = oauth.access_token(&owner).await;

    let missing = oauth
        .post(
            "/oauth/revoke",
            Some(&owner.basic()),
            &[("token_type_hint", "access_token")],
        )
        .await;
    assert_oauth_error(missing, 400, "invalid_request").await;
    let wrong = Credentials::new(&owner.id, "wrong-secret");
    let response = oauth
        .post("/oauth/revoke", Some(&wrong.basic()), &[("token", &token)])
        .await;
    assert_invalid_client(response, true).await;
    let anonymous = oauth
        .post("/oauth/revoke", None, &[("token", &token)])
        .await;
    assert_invalid_client(anonymous, false).await;
    let with_id_only = oauth
        .post(
            "/oauth/revoke",
            None,
            &[("token", &token), ("client_id", &owner.id)],
        )
        .await;
    assert_invalid_client(with_id_only, false).await;
    assert!(oauth.is_active(&owner, &token).await, "nothing was revoked");
}

async fn revocation_survives_a_restart(backend: Backend) {
    // A fixed issuer: the derived one names the port, which changes with the restart.
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = "https://auth.example.test".into()
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let owner = Credentials::of(&app.create_client("acme", json!({})).await);
    let revoked = oauth.access_token(&owner).await;
    let kept = oauth.access_token(&owner).await;
    oauth.revoke(&owner, &[("token", &revoked)]).await;

    let app = app.restart().await;
    let oauth = OAuthEndpoints::of(&app);
    assert!(!oauth.is_active(&owner, &revoked).await);
    assert!(oauth.is_active(&owner, &kept).await);
}

async fn revocation_reaches_another_process(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.issuer = REPLICA_ISSUER.into()).await;
    let dir = tempfile::tempdir().unwrap();
    let other = Running::spawn(replica(
        dir.path(),
        &app.database.url,
        &app.admin_key,
        app.settings.signing.master_key.expose_secret(),
    ));
    let here = OAuthEndpoints::of(&app);
    let there = OAuthEndpoints::at(&other.address());
    let owner = Credentials::of(&app.create_client("acme", json!({})).await);
    let token = here.access_token(&owner).await;
    let kept = there.access_token(&owner).await;
    assert!(there.is_active(&owner, &token).await);
    assert!(here.is_active(&owner, &kept).await);

    here.revoke(&owner, &[("token", &token)]).await;
    assert!(!here.is_active(&owner, &token).await, "at once here");
    let seen = eventually(PROPAGATION, || async {
        !there.is_active(&owner, &token).await
    })
    .await;
    assert!(seen.is_some(), "the other process still accepts the token");
    assert!(there.is_active(&owner, &kept).await);

    // And the other way round.
    there.revoke(&owner, &[("token", &kept)]).await;
    assert!(!there.is_active(&owner, &kept).await);
    let seen = eventually(PROPAGATION, || async {
        !here.is_active(&owner, &kept).await
    })
    .await;
    assert!(seen.is_some(), "this process still accepts the token");
    assert!(other.terminate().success());
}
