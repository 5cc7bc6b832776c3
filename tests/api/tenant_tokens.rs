//! Tenant admin tokens (seed 000).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_api_error, spawn_app, spawn_app_with, Backend};
use crate::keys::{tenant_token, verify_independently};

crate::on_both_backends!(
    the_admin_gets_a_token_for_an_existing_tenant,
    a_tenant_token_renews_itself,
    invalid_tenant_tokens_are_refused,
    a_client_token_never_acts_as_a_tenant_admin,
    only_tessera_keys_and_living_tenants_make_tenant_admins,
    a_tenant_token_is_not_the_admin_key,
    tenant_admin_tokens_and_portal_links_fail_closed_while_the_feed_cannot_be_read,
);

async fn the_admin_gets_a_token_for_an_existing_tenant(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.tenant_token_seconds = 600).await;
    app.put_tenant("acme", json!({})).await;
    let response = app
        .admin(Method::GET, "/api/v1/tenants/acme/token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["tenantId"], "acme");
    let token = body["token"].as_str().unwrap();
    let claims = verify_independently(&app, token).await;
    assert_eq!(claims["tid"], "acme");
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], format!("{}/api", app.issuer));
    assert_eq!(claims["scope"], "tenant:admin");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 32));

    let missing = app
        .admin(Method::GET, "/api/v1/tenants/nobody/token")
        .send()
        .await
        .unwrap();
    assert_api_error(missing, 404).await;
    let anonymous = app
        .client
        .get(app.url("/api/v1/tenants/acme/token"))
        .send()
        .await
        .unwrap();
    assert_api_error(anonymous, 401).await;
}

async fn a_tenant_token_renews_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let renewed = app
        .client
        .get(app.url("/api/v1/tenant/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let body: serde_json::Value = renewed.json().await.unwrap();
    assert_eq!(body["tenantId"], "acme");
    assert_ne!(body["token"].as_str().unwrap(), token);
}

async fn invalid_tenant_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let renew = |token: String| {
        app.client
            .get(app.url("/api/v1/tenant/token"))
            .bearer_auth(token)
            .send()
    };

    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (header, rest) = token.split_once('.').unwrap();
    let claims = rest.split_once('.').unwrap().0;
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!("{}.{claims}.", b64(json!({"alg": "none", "typ": "at+jwt"})));
    let hs256 = format!("{}.{claims}.c2ln", b64(json!({"alg": "HS256", "kid": "x"})));
    let swapped_claims = format!(
        "{header}.{}.{}",
        b64(json!({"tid": "other", "exp": 9999999999i64})),
        token.rsplit('.').next().unwrap()
    );
    for bad in [
        tampered,
        unsigned,
        hs256,
        swapped_claims,
        "garbage".into(),
        app.admin_key.clone() + "x",
    ] {
        assert_api_error(renew(bad).await.unwrap(), 401).await;
    }
    assert_api_error(
        app.client
            .get(app.url("/api/v1/tenant/token"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // A deleted tenant's tokens die with it.
    app.admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    assert_api_error(renew(token).await.unwrap(), 401).await;
}

async fn a_tenant_token_is_not_the_admin_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let other = app
        .client
        .put(app.url("/api/v1/tenants/other"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(other.status().as_u16(), 401 | 403),
        "{}",
        other.status()
    );
    let keys = app
        .client
        .get(app.url("/api/v1/keys"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(matches!(keys.status().as_u16(), 401 | 403));
    assert_api_error(app.get_tenant("other").await, 404).await;
}

/// Even a client an admin allowed the tenant admin scope and the API audience gets a
/// token that the admin API refuses: only tokens Tessera issues to itself count.
async fn a_client_token_never_acts_as_a_tenant_admin(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.issuer = "http://tessera.test".into();
        s.oauth.resources = vec!["http://tessera.test/api".into()];
    })
    .await;
    let client = app
        .create_client("acme", json!({"allowedScopes": ["tenant:admin"]}))
        .await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client["id"].as_str().unwrap(), client["secret"].as_str())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "tenant:admin"),
            ("resource", "http://tessera.test/api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_admin = app
        .client
        .get(app.url("/api/v1/tenants/acme"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_api_error(as_admin, 401).await;
    let renew = app
        .client
        .get(app.url("/api/v1/tenant/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_api_error(renew, 401).await;
}

/// A key imported from another server verifies that server's tokens but never makes a
/// tenant admin, and a tenant deleted and created again does not revive old tokens.
async fn only_tessera_keys_and_living_tenants_make_tenant_admins(backend: Backend) {
    use tessera::keys::{Algorithm, SigningKey};
    let app = spawn_app(backend).await;
    let before_deletion = tenant_token(&app, "acme").await;

    let der = Algorithm::ES256.generate_pkcs8().unwrap();
    let imported = SigningKey::from_der(Algorithm::ES256, &der).unwrap();
    app.keys
        .import(
            Algorithm::ES256,
            der,
            Some("old-server".into()),
            chrono::Utc::now(),
            &tessera::audit::AuditContext::cli(),
        )
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = tessera::keys::jwt::encode(
        &imported,
        "old-server",
        "at+jwt",
        &json!({
            "iss": app.issuer, "sub": "tenant-admin:acme", "aud": format!("{}/api", app.issuer),
            "exp": now + 300, "iat": now, "nbf": now, "jti": "x", "client_id": "tessera",
            "scope": "tenant:admin", "tid": "acme",
        }),
    )
    .unwrap();
    let renew = |token: &str| {
        app.client
            .get(app.url("/api/v1/tenant/token"))
            .bearer_auth(token)
            .send()
    };
    assert_api_error(renew(&forged).await.unwrap(), 401).await;
    assert_eq!(renew(&before_deletion).await.unwrap().status(), 200);

    app.admin(Method::DELETE, "/api/v1/tenants/acme")
        .send()
        .await
        .unwrap();
    // Created again a second later: the old token predates this tenant.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.put_tenant("acme", json!({})).await;
    assert_api_error(renew(&before_deletion).await.unwrap(), 401).await;
    let fresh = tenant_token(&app, "acme").await;
    assert_eq!(renew(&fresh).await.unwrap().status(), 200);
}

/// While the change feed cannot be read, a revocation made elsewhere may not have been
/// read: tenant admin tokens are neither honoured nor issued nor renewed, and portal
/// links neither issued nor opened (503, the link not spent); everything works again
/// once the feed is read.
async fn tenant_admin_tokens_and_portal_links_fail_closed_while_the_feed_cannot_be_read(
    backend: Backend,
) {
    use crate::portal_links::{admin_link, open, opened, COOKIE};
    let app = spawn_app(backend).await;
    let token = tenant_token(&app, "acme").await;
    let link = admin_link(&app, "acme").await;
    let session = opened(&app.address, &admin_link(&app, "acme").await).await;
    let renew = || async {
        app.client
            .get(app.url("/api/v1/tenant/token"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
    };

    app.hide_change_feed(true).await;
    crate::helpers::eventually(std::time::Duration::from_secs(15), || async {
        renew().await.status() == 503
    })
    .await
    .expect("renewals are refused once the feed cannot be read");
    let as_tenant_admin = app
        .client
        .get(app.url("/api/v1/oauth-clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_api_error(as_tenant_admin, 503).await;
    for path in ["/api/v1/tenants/acme/token", "/api/v1/tenants/acme/portal"] {
        let response = app.admin(Method::GET, path).send().await.unwrap();
        assert_api_error(response, 503).await;
    }
    let opening = open(&app.address, &link).await;
    assert_eq!(opening.status(), 503);
    assert!(opening.headers().get("set-cookie").is_none());
    let (status, _, _) = crate::portal_links::page(&app.address, Some((COOKIE, &session))).await;
    assert_eq!(status, 503, "the portal page of an open session");

    app.hide_change_feed(false).await;
    crate::helpers::eventually(std::time::Duration::from_secs(15), || async {
        renew().await.status() == 200
    })
    .await
    .expect("renewals work again once the feed is read");
    opened(&app.address, &link).await;
}
