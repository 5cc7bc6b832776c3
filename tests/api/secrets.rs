//! Client secrets (seed 004): the masked view, named secrets shown once, expiry,
//! duplicates (also racing), deletion, storage as hashes only, and
//! `ClientAuthenticator::authenticate`, the check the token endpoint uses.

use std::net::{IpAddr, Ipv4Addr};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{Duration, Utc};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::clients::secrets::{ClientSecret, NewSecret, SecretName, HMAC_PREFIX};
use tessera::clients::{ClientAuthError, ClientId};
use tessera::store::{InsertSecret, Store};

use crate::helpers::{assert_api_error, causes, spawn_app, spawn_app_with, Backend, TestApp};

/// The source address of the checks made directly, without HTTP.
const CALLER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

crate::on_both_backends!(
    the_seed_view_masks_every_secret,
    a_named_secret_is_shown_once,
    invalid_additions_are_refused_and_change_nothing,
    simultaneous_adds_of_one_name_make_one_secret,
    deleting_a_secret_removes_it,
    authenticate_client_accepts_any_live_secret,
    authenticate_client_rejects_what_it_must,
    no_secret_is_stored_in_clear,
    last_used_at_follows_successful_requests_only,
    a_flush_cancelled_mid_write_loses_no_use,
    a_legacy_argon2_secret_is_rehashed_on_its_first_successful_use,
    the_caps_on_clients_and_secrets_hold_under_concurrent_creation,
    the_client_cap_is_exact_when_many_more_creations_race_than_it_allows,
    overlapping_use_flushes_never_deadlock,
);

async fn add_secret(app: &TestApp, client: &str, body: Value) -> reqwest::Response {
    app.admin(
        Method::POST,
        &format!("/api/v1/tenants/clients/{client}/tokens"),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn the_seed_view_masks_every_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client(
            "acme",
            json!({"allowedScopes": ["hubster-portal-api"],
                   "claims": [{"type": "role", "value": "admin"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    let (status, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["tenantId"], "acme");
    assert_eq!(view["clientId"], id);
    assert_eq!(view["name"], "Demo API Client");
    assert_eq!(view["enabled"], true);
    assert_eq!(view["allowedScopes"], json!(["hubster-portal-api"]));
    assert_eq!(view["claims"], json!([{"type": "role", "value": "admin"}]));
    let first = &view["secrets"][0];
    assert_eq!(first["name"], "default");
    assert_eq!(first["token"], format!("{}...", &secret[..6]));
    assert!(first.get("expiration").is_none());
    assert_eq!(first["lastUsedAt"], Value::Null);
    assert!(first["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(first["id"].is_i64());

    let (status, _) = app.get_json("/api/v1/tenants/clients/nothere").await;
    assert_eq!(status, 404);
}

async fn a_named_secret_is_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let added = add_secret(
        &app,
        id,
        json!({"name": "my secret 3", "expiration": "2030-01-31T00:00:00"}),
    )
    .await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    let token = added["token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(added["name"], "my secret 3");
    assert_eq!(added["expiration"], "2030-01-31T00:00:00.000Z");

    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    let secrets = view["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[1]["id"], added["id"]);
    assert_eq!(secrets[1]["token"], format!("{}...", &token[..6]));
    assert_eq!(secrets[1]["expiration"], "2030-01-31T00:00:00.000Z");
    let (_, client) = app.get_json(&format!("/api/v1/oauth-clients/{id}")).await;
    let (_, list) = app.get_json("/api/v1/oauth-clients").await;
    for shown in [view, client, list] {
        let shown = shown.to_string();
        assert!(!shown.contains(token));
        assert!(!shown.contains(created["secret"].as_str().unwrap()));
    }
    let rfc3339 = add_secret(
        &app,
        id,
        json!({"name": "offset", "expiration": "2031-01-01T01:00:00+01:00"}),
    )
    .await;
    let rfc3339: Value = rfc3339.json().await.unwrap();
    assert_eq!(rfc3339["expiration"], "2031-01-01T00:00:00.000Z");
}

async fn invalid_additions_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let public = app
        .create_client(
            "acme",
            json!({"type": "PUBLIC", "grantTypes": ["AUTHORIZATION_CODE"]}),
        )
        .await;
    let before = app.database_text().await;

    let past = add_secret(
        &app,
        id,
        json!({"name": "old", "expiration": "2001-01-01T00:00:00"}),
    )
    .await;
    let error = assert_api_error(past, 400).await;
    assert_eq!(causes(&error), ["expiration: must be in the future"]);
    let both = add_secret(&app, id, json!({"name": " ", "expiration": "soon"})).await;
    assert_eq!(causes(&assert_api_error(both, 400).await).len(), 2);
    let unnamed = add_secret(&app, id, json!({})).await;
    assert_eq!(
        causes(&assert_api_error(unnamed, 400).await),
        ["name: is required"]
    );
    let unknown_field = add_secret(&app, id, json!({"name": "x", "token": "mine"})).await;
    assert_api_error(unknown_field, 400).await;
    let duplicate = add_secret(&app, id, json!({"name": "default"})).await;
    assert_api_error(duplicate, 409).await;
    let public_id = public["id"].as_str().unwrap();
    let for_public = add_secret(&app, public_id, json!({"name": "x"})).await;
    assert_api_error(for_public, 400).await;
    let missing = add_secret(&app, "nothere", json!({"name": "x"})).await;
    assert_api_error(missing, 404).await;

    assert_eq!(before, app.database_text().await);
}

async fn simultaneous_adds_of_one_name_make_one_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let (first, second) = tokio::join!(
        add_secret(&app, id, json!({"name": "rotation"})),
        add_secret(&app, id, json!({"name": "rotation"})),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 2);
}

async fn deleting_a_secret_removes_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let other = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let added: Value = add_secret(&app, id, json!({"name": "temp"}))
        .await
        .json()
        .await
        .unwrap();
    let delete = |client: String, secret: String| {
        app.admin(
            Method::DELETE,
            &format!("/api/v1/tenants/clients/{client}/tokens/{secret}"),
        )
        .send()
    };
    let secret_id = added["id"].to_string();
    let wrong_client = delete(other["id"].as_str().unwrap().into(), secret_id.clone())
        .await
        .unwrap();
    assert_api_error(wrong_client, 404).await;
    let deleted = delete(id.into(), secret_id.clone()).await.unwrap();
    assert_eq!(deleted.status(), 200);
    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 1);
    assert_api_error(delete(id.into(), secret_id).await.unwrap(), 404).await;
    assert_api_error(delete(id.into(), "abc".into()).await.unwrap(), 404).await;
}

async fn authenticate_client_accepts_any_live_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let initial = ClientSecret::presented(created["secret"].as_str().unwrap());
    let added: Value = add_secret(
        &app,
        id,
        json!({"name": "next", "expiration": "2030-01-31T00:00:00"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let next = ClientSecret::presented(added["token"].as_str().unwrap());

    let now = Utc::now();
    let by_initial = app
        .clients
        .authenticate(id, &initial, CALLER, now)
        .await
        .unwrap();
    assert_eq!(by_initial.client.id.as_str(), id);
    assert_eq!(by_initial.client.tenant_id.as_str(), "acme");
    let by_next = app
        .clients
        .authenticate(id, &next, CALLER, now)
        .await
        .unwrap();
    assert_eq!(by_next.secret_id, added["id"].as_i64());
    assert_ne!(by_initial.secret_id, by_next.secret_id);
    app.clients.record_use(&by_initial, now).await;
    app.clients.record_use(&by_next, now).await;
    app.clients.flush_uses().await.unwrap();

    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    for secret in view["secrets"].as_array().unwrap() {
        assert!(secret["lastUsedAt"].is_string(), "{secret}");
    }
}

async fn authenticate_client_rejects_what_it_must(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let initial = ClientSecret::presented(created["secret"].as_str().unwrap());
    let expiring: Value = add_secret(
        &app,
        id,
        json!({"name": "expiring", "expiration": "2030-01-31T00:00:00Z"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let expiring_secret = ClientSecret::presented(expiring["token"].as_str().unwrap());
    let now = Utc::now();
    let rejected = |outcome: Result<_, ClientAuthError>| {
        matches!(outcome, Err(ClientAuthError::InvalidClient))
    };

    let after_expiry = "2030-01-31T00:00:00Z".parse().unwrap();
    assert!(rejected(
        app.clients
            .authenticate(id, &expiring_secret, CALLER, after_expiry)
            .await
    ));
    let before_expiry = after_expiry - Duration::seconds(1);
    assert!(app
        .clients
        .authenticate(id, &expiring_secret, CALLER, before_expiry)
        .await
        .is_ok());

    let wrong = ClientSecret::generate();
    assert!(rejected(
        app.clients.authenticate(id, &wrong, CALLER, now).await
    ));
    let same_prefix = ClientSecret::presented(format!("{}wrong", initial.display_prefix()));
    assert!(rejected(
        app.clients
            .authenticate(id, &same_prefix, CALLER, now)
            .await
    ));
    assert!(rejected(
        app.clients
            .authenticate("unknown", &initial, CALLER, now)
            .await
    ));
    assert!(rejected(
        app.clients
            .authenticate("not a client id!", &initial, CALLER, now)
            .await
    ));

    app.admin(
        Method::DELETE,
        &format!(
            "/api/v1/tenants/clients/{id}/tokens/{}",
            expiring["id"].as_i64().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();
    assert!(rejected(
        app.clients
            .authenticate(id, &expiring_secret, CALLER, now)
            .await
    ));

    assert!(app
        .clients
        .authenticate(id, &initial, CALLER, now)
        .await
        .is_ok());
    app.admin(Method::PATCH, &format!("/api/v1/oauth-clients/{id}"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(rejected(
        app.clients.authenticate(id, &initial, CALLER, now).await
    ));
}

async fn no_secret_is_stored_in_clear(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap();
    let added: Value = add_secret(&app, id, json!({"name": "second"}))
        .await
        .json()
        .await
        .unwrap();
    let text = app.database_text().await;
    assert!(text.contains("hmac-sha256$"), "hashes are stored");
    assert!(
        !text.contains("$argon2id$"),
        "new secrets are not hashed with argon2"
    );
    for secret in [&created["secret"], &added["token"]] {
        let secret = secret.as_str().unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(secret).unwrap();
        for form in [
            secret.to_owned(),
            secret[6..].to_owned(),
            STANDARD.encode(&bytes),
            hex::encode(&bytes),
        ] {
            assert!(!text.contains(&form), "{form} is stored");
        }
    }
}

/// A token request refused after authentication (here: a scope the client may not
/// have) leaves `lastUsedAt` alone; a successful one sets it, written by the periodic
/// flush or, at the latest, when the server stops.
async fn last_used_at_follows_successful_requests_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client("acme", json!({"allowedScopes": ["read"]}))
        .await;
    let id = created["id"].as_str().unwrap();
    let token = |scope: &'static str| {
        app.client
            .post(app.url("/oauth/token"))
            .basic_auth(id, created["secret"].as_str())
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };
    let last_used = || async {
        let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
        view["secrets"][0]["lastUsedAt"].clone()
    };
    assert_eq!(token("admin").await.unwrap().status(), 400);
    app.clients.flush_uses().await.unwrap();
    assert_eq!(
        last_used().await,
        Value::Null,
        "a refused request writes nothing"
    );
    let before = Utc::now();
    assert_eq!(token("read").await.unwrap().status(), 200);
    let id = id.to_owned();
    let app = app.restart().await;
    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    let used: chrono::DateTime<Utc> = view["secrets"][0]["lastUsedAt"]
        .as_str()
        .expect("lastUsedAt is written when the server stops")
        .parse()
        .unwrap();
    assert!(used >= before - Duration::seconds(1), "{used} {before}");
}

/// The periodic flush is aborted as the server stops, possibly in the middle of its
/// write: the uses it carried must still be written by the next flush. Each round
/// cancels a flush after one more poll, so the cancellation lands at every await of it.
async fn a_flush_cancelled_mid_write_loses_no_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client("acme", json!({"allowedScopes": ["read"]}))
        .await;
    let id = created["id"].as_str().unwrap();
    for polls in 1..=8 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let before = Utc::now();
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(id, created["secret"].as_str())
            .form(&[("grant_type", "client_credentials"), ("scope", "read")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        poll_then_drop(app.clients.flush_uses(), polls).await;
        app.clients.flush_uses().await.unwrap();
        let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
        let used: chrono::DateTime<Utc> = view["secrets"][0]["lastUsedAt"]
            .as_str()
            .unwrap_or_else(|| panic!("after {polls} polls: no lastUsedAt"))
            .parse()
            .unwrap();
        assert!(
            used >= before - Duration::milliseconds(1),
            "after {polls} polls the last use was lost: {used} < {before}"
        );
    }
}

/// Polls `future` up to `polls` times (yielding between polls so its I/O can move on),
/// then drops it wherever it is.
async fn poll_then_drop<F: std::future::Future>(future: F, polls: usize) {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx)));
        if polled.await.is_ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// A database as the code before HMAC hashing left it: a secret stored as argon2id.
/// It authenticates, is rewritten in the HMAC form by its first successful request
/// (not by a refused one), and keeps working, also after a restart.
async fn a_legacy_argon2_secret_is_rehashed_on_its_first_successful_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_client("acme", json!({"allowedScopes": ["read"]}))
        .await;
    let id = ClientId::parse(created["id"].as_str().unwrap()).unwrap();
    let legacy = ClientSecret::generate();
    let argon2 = tessera::password::hash_password(&SecretString::from(legacy.expose().to_owned()))
        .await
        .unwrap();
    let row = NewSecret {
        name: SecretName::parse("legacy").unwrap(),
        display_prefix: legacy.display_prefix(),
        hash: argon2.clone(),
        expires_at: None,
    };
    let mut tx = app.store.begin_write().await.unwrap();
    let inserted = Store::insert_secret(&mut tx, &id, &row.record(), 20, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let InsertSecret::Inserted(stored) = inserted else {
        panic!("{inserted:?}");
    };
    let stored_hash = || async {
        let secrets = app.store.client_secrets(&id).await.unwrap();
        let row = secrets.into_iter().find(|s| s.id == stored.id).unwrap();
        row.hash
    };
    let token = |scope: &'static str| {
        app.client
            .post(app.url("/oauth/token"))
            .basic_auth(id.as_str(), Some(legacy.expose()))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };

    assert_eq!(token("admin").await.unwrap().status(), 400);
    assert_eq!(
        stored_hash().await,
        argon2,
        "a refused request rewrites nothing"
    );
    assert_eq!(token("read").await.unwrap().status(), 200);
    let upgraded = stored_hash().await;
    assert!(upgraded.starts_with(HMAC_PREFIX), "{upgraded}");
    assert_eq!(upgraded, app.clients.hasher().hash(&legacy));
    assert_eq!(token("read").await.unwrap().status(), 200);

    let app = app.restart().await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(id.as_str(), Some(legacy.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the new form verifies from a fresh start"
    );
}

/// `limits.clients_per_tenant` and `limits.secrets_per_client`: creations racing for
/// the last places get exactly the cap, the rest a clear 409, and nothing more is stored.
async fn the_caps_on_clients_and_secrets_hold_under_concurrent_creation(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.limits.clients_per_tenant = 3;
        s.limits.secrets_per_client = 2;
    })
    .await;
    let first = app.create_client("acme", json!({})).await;
    let body = crate::helpers::client_body("acme");
    let attempts = (0..5)
        .map(|_| app.admin(Method::POST, "/api/v1/oauth-clients").json(&body))
        .collect();
    let mut created = 0;
    for response in all_at_once(attempts).await {
        match response.status().as_u16() {
            200 => created += 1,
            409 => {
                let error = assert_api_error(response, 409).await;
                assert!(
                    error.to_string().contains("limits.clients_per_tenant"),
                    "{error}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 2, "one client existed; the cap is 3");
    let refused = app.post_client(&body).await;
    assert_api_error(refused, 409).await;
    // Another tenant has a cap of its own.
    app.create_client("other", json!({})).await;

    let id = first["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/clients/{id}/tokens");
    let adds = (0..4)
        .map(|n| {
            app.admin(Method::POST, &path)
                .json(&json!({"name": format!("extra-{n}")}))
        })
        .collect();
    let statuses: Vec<u16> = all_at_once(adds)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "the initial secret and one more: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|status| [200, 409].contains(status)),
        "{statuses:?}"
    );
    let (_, view) = app.get_json(&format!("/api/v1/tenants/clients/{id}")).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 2);
    let refused = add_secret(&app, id, json!({"name": "one-more"})).await;
    let error = assert_api_error(refused, 409).await;
    assert!(
        error.to_string().contains("limits.secrets_per_client"),
        "{error}"
    );
}

/// Twenty creations race for a cap of five, over as many connections: on PostgreSQL
/// each takes one of the tenant's count slots (migration 0014), five of which have room
/// (a share of one each), so some wait for a slot another creation holds and find it
/// full. Exactly five are stored; deleting one makes room for exactly one more.
async fn the_client_cap_is_exact_when_many_more_creations_race_than_it_allows(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.limits.clients_per_tenant = 5;
        s.database.max_connections = 20;
    })
    .await;
    app.put_tenant("acme", json!({})).await;
    let body = crate::helpers::client_body("acme");
    let attempts = (0..20)
        .map(|_| app.admin(Method::POST, "/api/v1/oauth-clients").json(&body))
        .collect();
    let mut created = Vec::new();
    for response in all_at_once(attempts).await {
        match response.status().as_u16() {
            200 => created.push(response.json::<Value>().await.unwrap()),
            409 => {
                assert_api_error(response, 409).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created.len(), 5, "the cap is 5");
    let (_, list) = app.get_json("/api/v1/oauth-clients?tenantId=acme").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 5, "{list}");

    let id = created[0]["id"].as_str().unwrap();
    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/oauth-clients/{id}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let again = (0..4)
        .map(|_| app.admin(Method::POST, "/api/v1/oauth-clients").json(&body))
        .collect();
    let statuses: Vec<u16> = all_at_once(again)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "one place was freed: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|status| [200, 409].contains(status)),
        "{statuses:?}"
    );
}

/// Sends the requests at the same time; their responses in order.
async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<reqwest::Response> {
    let sent: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(request.send()))
        .collect();
    let mut responses = Vec::new();
    for response in sent {
        responses.push(response.await.unwrap().unwrap());
    }
    responses
}

/// Two processes flush the uses of overlapping secrets at once, in opposite orders: the
/// rows are locked in id order, so neither deadlocks (on PostgreSQL one would be
/// aborted) and the latest use of each secret stays.
async fn overlapping_use_flushes_never_deadlock(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..40 {
        let created = app.create_client("acme", json!({})).await;
        let client = ClientId::parse(created["id"].as_str().unwrap()).unwrap();
        let secrets = app.store.client_secrets(&client).await.unwrap();
        ids.extend(secrets.iter().map(|secret| secret.id));
        clients.push(client);
    }
    let base = Utc::now();
    for round in 0..5 {
        let at = |extra: i64| base + Duration::milliseconds(round * 10 + extra);
        let forward: Vec<_> = ids.iter().map(|id| (*id, at(0))).collect();
        let backward: Vec<_> = ids.iter().rev().map(|id| (*id, at(1))).collect();
        let (one, other) = tokio::join!(
            app.store.record_secret_uses(&forward),
            app.store.record_secret_uses(&backward),
        );
        one.unwrap();
        other.unwrap();
    }
    let last = (base + Duration::milliseconds(41)).timestamp_millis();
    for client in &clients {
        for secret in app.store.client_secrets(client).await.unwrap() {
            assert_eq!(secret.last_used_at, Some(last));
        }
    }
}
