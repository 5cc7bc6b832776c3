//! Warming the client cache at start: a fresh process loads the clients active within
//! `oauth.client_cache_warm_seconds` in bulk, and they authenticate from the cache.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use tessera::clients::secrets::{ClientSecret, SecretHasher};
use tessera::clients::ClientAuthenticator;
use tessera::rate_limit::FailureLimiter;

use crate::helpers::{spawn_app, Backend, TestApp};

crate::on_both_backends!(
    recently_active_clients_are_loaded_in_bulk,
    warming_stops_at_the_cache_capacity,
    a_restarted_process_listens_with_its_cache_warm
);

fn fresh_authenticator(app: &TestApp, capacity: u64) -> Arc<ClientAuthenticator> {
    Arc::new(ClientAuthenticator::new(
        app.store.clone(),
        SecretHasher::from_keys(&app.keys),
        FailureLimiter::new(&app.settings.rate_limit),
        capacity,
        &tessera::metrics::Metrics::new(),
    ))
}

async fn recently_active_clients_are_loaded_in_bulk(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut created = Vec::new();
    for tenant in ["acme", "globex"] {
        for _ in 0..3 {
            created.push(app.create_client(tenant, json!({})).await);
        }
    }
    let gone = app.create_client("acme", json!({})).await;
    let deleted = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/oauth-clients/{}", gone["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    let nothing_new = fresh_authenticator(&app, 1000);
    assert_eq!(
        nothing_new
            .warm(Utc::now() + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(nothing_new.cached_clients(), 0);

    let warmed = fresh_authenticator(&app, 1000);
    assert_eq!(
        warmed.warm(Utc::now() - Duration::hours(1)).await.unwrap(),
        6
    );
    assert_eq!(
        warmed.cached_clients(),
        6,
        "the deleted client is not loaded"
    );
    let source = "127.0.0.1".parse().unwrap();
    for client in &created {
        let secret = ClientSecret::presented(client["secret"].as_str().unwrap());
        let authenticated = warmed
            .authenticate(client["id"].as_str().unwrap(), &secret, source, Utc::now())
            .await
            .expect("a warmed client authenticates with its secret");
        assert_eq!(
            authenticated.client.id.as_str(),
            client["id"].as_str().unwrap()
        );
        let wrong = ClientSecret::presented(format!("{}x", client["secret"].as_str().unwrap()));
        assert!(warmed
            .authenticate(client["id"].as_str().unwrap(), &wrong, source, Utc::now())
            .await
            .is_err());
    }
}

async fn warming_stops_at_the_cache_capacity(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..4 {
        app.create_client("acme", json!({})).await;
    }
    let small = fresh_authenticator(&app, 2);
    assert_eq!(
        small.warm(Utc::now() - Duration::hours(1)).await.unwrap(),
        2
    );
    assert_eq!(small.cached_clients(), 2);
}

/// The warm-up finishes before the server listens (when it takes less than its bound),
/// so the first request after a restart already finds its client cached.
async fn a_restarted_process_listens_with_its_cache_warm(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..5 {
        app.create_client("acme", json!({})).await;
    }
    let app = app.restart().await;
    assert_eq!(
        app.clients.cached_clients(),
        5,
        "cached before the first request"
    );
}
