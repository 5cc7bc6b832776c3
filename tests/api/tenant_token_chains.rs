//! Tenant admin tokens end: a chain of renewals never outlives
//! `admin.tenant_token_max_lifetime_seconds`, a holder revokes its own chain, the
//! global admin revokes every token of a tenant, and every process honours both
//! within a second.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::change_feed::{Replica, PROPAGATION, SHARED_ISSUER};
use crate::helpers::{assert_api_error, eventually, spawn_app, spawn_app_with, Backend, TestApp};
use crate::keys::{tenant_token, verify_independently};

crate::on_both_backends!(
    renewals_keep_the_chain_and_end_at_its_max_lifetime,
    a_holder_revokes_its_own_chain_only,
    the_admin_revokes_every_token_of_a_tenant_so_far,
    another_process_refuses_revoked_tenant_tokens_within_a_second,
);

/// What `token` gets from an endpoint every tenant admin may call.
async fn status_with(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/api/v1/oauth-clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn renew(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/tenant/token"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn renewed(app: &TestApp, token: &str) -> String {
    let response = renew(app, token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn revoke_own(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url("/api/v1/tenant/token"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn revoke_tenant(app: &TestApp, tenant: &str) -> reqwest::Response {
    app.admin(Method::DELETE, &format!("/api/v1/tenants/{tenant}/token"))
        .send()
        .await
        .unwrap()
}

async fn actions(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit_events("limit=100")
        .await
        .into_iter()
        .filter(|event| event["action"] == action)
        .collect()
}

async fn renewals_keep_the_chain_and_end_at_its_max_lifetime(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.admin.tenant_token_seconds = 5;
        s.admin.tenant_token_max_lifetime_seconds = 6;
    })
    .await;
    let first = tenant_token(&app, "acme").await;
    let claims = verify_independently(&app, &first).await;
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    let chain = claims["sid"].as_str().expect("sid").to_owned();
    assert_eq!(auth_time, claims["iat"].as_i64().unwrap());

    // Renewed more than a second in (the first token lives 5 s), a full lifetime would
    // pass the chain's end.
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let latest = loop {
        let latest = renewed(&app, &first).await;
        let claims = verify_independently(&app, &latest).await;
        assert_eq!(claims["auth_time"].as_i64(), Some(auth_time));
        assert_eq!(claims["sid"].as_str(), Some(chain.as_str()));
        let exp = claims["exp"].as_i64().unwrap();
        assert!(exp <= auth_time + 6, "a renewal outlives its chain");
        if exp == auth_time + 6 {
            break latest;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "renewals were never capped at the chain's end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Past the end, renewal answers 401, however fresh the token renewed from.
    let ended = eventually(Duration::from_secs(10), || async {
        renew(&app, &latest).await.status() == 401
    })
    .await;
    assert!(ended.is_some(), "the chain did not end");
    assert_api_error(renew(&app, &latest).await, 401).await;
    // A new chain starts from the admin key.
    let fresh = tenant_token(&app, "acme").await;
    assert_eq!(renew(&app, &fresh).await.status(), 200);
    assert!(actions(&app, "tenant_token.issued").await.len() >= 3);
}

async fn a_holder_revokes_its_own_chain_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = tenant_token(&app, "acme").await;
    let renewal = renewed(&app, &first).await;
    let other_chain = tenant_token(&app, "acme").await;

    let response = revoke_own(&app, &first).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    for (name, token) in [("the token", &first), ("its renewal", &renewal)] {
        assert_eq!(
            status_with(&app.client, &app.address, token).await,
            401,
            "{name}"
        );
        assert_api_error(renew(&app, token).await, 401).await;
    }
    assert_eq!(
        status_with(&app.client, &app.address, &other_chain).await,
        200
    );

    let revoked = actions(&app, "tenant_token.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["tenantId"], "acme");
    // The admin key has no chain to revoke.
    let admin = app
        .admin(Method::DELETE, "/api/v1/tenant/token")
        .send()
        .await
        .unwrap();
    assert_api_error(admin, 400).await;
}

async fn the_admin_revokes_every_token_of_a_tenant_so_far(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = tenant_token(&app, "acme").await;
    let second = tenant_token(&app, "acme").await;
    let renewal = renewed(&app, &first).await;
    let other_tenant = tenant_token(&app, "globex").await;

    // A tenant admin may not do it, not even for its own tenant.
    let by_tenant_admin = app
        .client
        .delete(app.url("/api/v1/tenants/acme/token"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert!(matches!(by_tenant_admin.status().as_u16(), 401 | 403));
    assert_eq!(status_with(&app.client, &app.address, &first).await, 200);

    let response = revoke_tenant(&app, "acme").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    for token in [&first, &second, &renewal] {
        assert_eq!(status_with(&app.client, &app.address, token).await, 401);
    }
    assert_eq!(
        status_with(&app.client, &app.address, &other_tenant).await,
        200
    );
    // Tokens issued afterwards work (one issued within the same second counts as
    // issued before, so it may take until the next second).
    let fresh_works = eventually(Duration::from_secs(3), || async {
        let fresh = tenant_token(&app, "acme").await;
        status_with(&app.client, &app.address, &fresh).await == 200
    })
    .await;
    assert!(
        fresh_works.is_some(),
        "no new token works after the revocation"
    );

    assert_api_error(revoke_tenant(&app, "nobody").await, 404).await;
    let revoked = actions(&app, "tenant_tokens.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["targetId"], "acme");
}

async fn another_process_refuses_revoked_tenant_tokens_within_a_second(backend: Backend) {
    // Replicas share one public issuer, as behind a load balancer.
    let app = spawn_app_with(backend, |s| s.server.issuer = SHARED_ISSUER.into()).await;
    let replica = Replica::of(&app).await;
    let http = reqwest::Client::new();
    let own = tenant_token(&app, "acme").await;
    let others = tenant_token(&app, "globex").await;
    assert_eq!(status_with(&http, &replica.address, &own).await, 200);
    assert_eq!(status_with(&http, &replica.address, &others).await, 200);

    assert_eq!(revoke_own(&app, &own).await.status(), 200);
    let refused = eventually(PROPAGATION, || async {
        status_with(&http, &replica.address, &own).await == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "the replica still accepts a revoked chain"
    );

    assert_eq!(revoke_tenant(&app, "globex").await.status(), 200);
    let refused = eventually(PROPAGATION, || async {
        status_with(&http, &replica.address, &others).await == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "the replica still accepts a revoked tenant's token"
    );

    // A process started afterwards loads both revocations.
    let late = Replica::of(&app).await;
    assert_eq!(status_with(&http, &late.address, &own).await, 401);
    assert_eq!(status_with(&http, &late.address, &others).await, 401);
}
