//! What one process caches about clients follows changes made through another: two
//! `tessera` processes on one database, each warmed up with a client, then the client
//! is disabled, a secret deleted, the client deleted. The process that made the change
//! refuses at once; the other within a second.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{client_body, eventually, random_master_key, Backend, TestDatabase};
use crate::process::{replica, Running};
use crate::token_client::{assert_invalid_client, Credentials, OAuthEndpoints};

crate::on_both_backends!(client_changes_reach_the_other_process_within_a_second);

/// The issue: changes reach every other process within one second.
const PROPAGATION: Duration = Duration::from_secs(1);

struct Admin {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Admin {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }
}

/// Waits until `process` refuses `client`, then checks the refusal is `invalid_client`.
async fn refused_within(process: &OAuthEndpoints, client: &Credentials, within: Duration) {
    let refused = eventually(within, || async {
        process.token(client, &[]).await.status() == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "{} still accepts {} after {within:?}",
        process.base,
        client.id
    );
    assert_invalid_client(process.token(client, &[]).await, true).await;
}

async fn accepted_within(process: &OAuthEndpoints, client: &Credentials, within: Duration) {
    let accepted = eventually(within, || async {
        process.token(client, &[]).await.status() == 200
    })
    .await;
    assert!(accepted.is_some(), "{} refuses {}", process.base, client.id);
}

async fn client_changes_reach_the_other_process_within_a_second(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let admin_key = tessera::auth::admin_key::generate_key();
    let master_key = random_master_key();
    let start = || Running::spawn(replica(dir.path(), &database.url, &admin_key, &master_key));
    let first = start();
    let first_address = first.address();
    let second = start();
    let second_address = second.address();
    let a = OAuthEndpoints::at(&first_address);
    let b = OAuthEndpoints::at(&second_address);
    let admin_of = |base: &str| Admin {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        key: admin_key.clone(),
    };
    let (admin_a, admin_b) = (admin_of(&first_address), admin_of(&second_address));

    admin_a
        .send(Method::PUT, "/api/v1/tenants/acme", Some(json!({})))
        .await;
    let created = admin_a
        .send(
            Method::POST,
            "/api/v1/oauth-clients",
            Some(client_body("acme")),
        )
        .await;
    let client = Credentials::of(&created);
    let path = format!("/api/v1/oauth-clients/{}", client.id);
    // Both processes know the client and remember its secret check.
    for _ in 0..2 {
        a.access_token(&client).await;
        b.access_token(&client).await;
    }

    // Disabled through the first process.
    admin_a
        .send(Method::PATCH, &path, Some(json!({"enabled": false})))
        .await;
    assert_invalid_client(a.token(&client, &[]).await, true).await;
    refused_within(&b, &client, PROPAGATION).await;
    admin_a
        .send(Method::PATCH, &path, Some(json!({"enabled": true})))
        .await;
    a.access_token(&client).await;
    accepted_within(&b, &client, PROPAGATION).await;

    // A second secret, then its deletion, through the second process.
    let added = admin_b
        .send(
            Method::POST,
            &format!("/api/v1/tenants/clients/{}/tokens", client.id),
            Some(json!({"name": "second"})),
        )
        .await;
    let second_secret = Credentials::new(&client.id, added["token"].as_str().unwrap());
    b.access_token(&second_secret).await;
    accepted_within(&a, &second_secret, PROPAGATION).await;
    a.access_token(&second_secret).await;
    admin_b
        .send(
            Method::DELETE,
            &format!(
                "/api/v1/tenants/clients/{}/tokens/{}",
                client.id, added["id"]
            ),
            None,
        )
        .await;
    assert_invalid_client(b.token(&second_secret, &[]).await, true).await;
    refused_within(&a, &second_secret, PROPAGATION).await;
    a.access_token(&client).await;
    b.access_token(&client).await;

    // Deleted through the first process.
    admin_a.send(Method::DELETE, &path, None).await;
    assert_invalid_client(a.token(&client, &[]).await, true).await;
    refused_within(&b, &client, PROPAGATION).await;

    assert!(first.terminate().success());
    assert!(second.terminate().success());
}

/// A client loaded from the database while a change to it is applied must not enter
/// the cache as it was before the change. The load is held between its two reads by a
/// lock on `client_secrets`, which only PostgreSQL can do to a reader (SQLite's readers
/// never wait), so this test runs on PostgreSQL only.
#[tokio::test]
async fn a_change_during_a_cold_load_is_not_lost() {
    use sqlx::Connection;
    let Some(backend) = Backend::postgres() else {
        eprintln!("skipped: {} is not set", crate::helpers::POSTGRES_URL_VAR);
        return;
    };
    let app = crate::helpers::spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let client = Credentials::of(&app.create_client("acme", json!({})).await);

    let mut locker = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    let watcher = sqlx::PgPool::connect(&app.database.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE client_secrets IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let in_flight = {
        let (oauth, client) = (oauth.clone(), client.clone());
        tokio::spawn(async move { oauth.token(&client, &[]).await.status() })
    };
    let waiting = eventually(Duration::from_secs(10), || {
        let watcher = watcher.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE '%FROM client_secrets%'",
            )
            .fetch_one(&watcher)
            .await
            .unwrap();
            waiting == 1
        }
    })
    .await;
    assert!(
        waiting.is_some(),
        "the token request reads the client's secrets"
    );

    let disabled = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/oauth-clients/{}", client.id),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    // The request that began before the change may still succeed; none after it.
    in_flight.await.unwrap();
    assert_invalid_client(oauth.token(&client, &[]).await, true).await;
}
