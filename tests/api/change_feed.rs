//! The change feed: every write other processes must learn of is a row with a
//! database-assigned sequence, a change committed after a later-numbered one is still
//! applied on PostgreSQL, and a second process on the same database applies what the
//! first one changed.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tessera::startup::Application;
use tessera::store::Store;

use crate::helpers::{eventually, spawn_app, Backend, TestApp};
use crate::token_client::{Credentials, OAuthEndpoints};

crate::on_both_backends!(
    every_client_and_secret_write_is_on_the_feed,
    keys_and_revocations_are_on_the_feed,
    a_key_change_reaches_the_other_process_within_a_second,
    a_process_that_missed_purged_changes_rebuilds,
    purging_takes_only_a_prefix_whatever_the_writers_clocks,
);

/// The issue: changes reach every other process within one second.
pub const PROPAGATION: Duration = Duration::from_secs(1);
/// The issuer of an app and its [`Replica`]s, as behind a load balancer.
pub const SHARED_ISSUER: &str = "http://tessera.test";

/// Another Tessera process on `app`'s database (same keys, same admin key), as a
/// replica behind a load balancer would be; stopped when the handle is dropped.
pub struct Replica {
    pub address: String,
    handle: actix_web::dev::ServerHandle,
}

impl Replica {
    pub async fn of(app: &TestApp) -> Self {
        let built = Application::build(app.settings.clone())
            .await
            .expect("replica builds");
        let address = format!("http://127.0.0.1:{}", built.port());
        let handle = built.handle();
        tokio::spawn(built.run_until_stopped());
        Replica { address, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// The `(kind, subject)` of the feed rows after `after`, and the newest seq.
async fn feed_after(app: &TestApp, after: i64) -> (Vec<(String, String)>, i64) {
    let rows = app.store.changes_after(after, 1000).await.unwrap();
    let newest = rows.last().map_or(after, |row| row.seq);
    let mut last = after;
    for row in &rows {
        assert!(row.seq > last, "out of order: {rows:?}");
        last = row.seq;
    }
    (
        rows.into_iter()
            .map(|row| (row.kind, row.subject))
            .collect(),
        newest,
    )
}

/// Asserts the feed gained, since `seen`, a `client` row for `client_id`.
async fn assert_client_change(app: &TestApp, seen: &mut i64, client_id: &str, what: &str) {
    let (rows, newest) = feed_after(app, *seen).await;
    assert!(
        rows.contains(&("client".to_owned(), client_id.to_owned())),
        "{what}: no change for {client_id} in {rows:?}"
    );
    *seen = newest;
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app.admin(method.clone(), path);
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

async fn every_client_and_secret_write_is_on_the_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", json!({})).await;
    let mut seen = feed_after(&app, 0).await.1;

    let created = app.create_client("acme", json!({})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_client_change(&app, &mut seen, &id, "creation").await;

    let path = format!("/api/v1/oauth-clients/{id}");
    send(&app, Method::PATCH, &path, Some(json!({"enabled": false}))).await;
    assert_client_change(&app, &mut seen, &id, "update").await;

    let secrets = format!("/api/v1/tenants/clients/{id}/tokens");
    let added = send(
        &app,
        Method::POST,
        &secrets,
        Some(json!({"name": "second"})),
    )
    .await;
    assert_client_change(&app, &mut seen, &id, "secret added").await;

    let secret = format!("{secrets}/{}", added["id"]);
    send(&app, Method::DELETE, &secret, None).await;
    assert_client_change(&app, &mut seen, &id, "secret deleted").await;

    send(&app, Method::DELETE, &path, None).await;
    assert_client_change(&app, &mut seen, &id, "deletion").await;

    // A tenant's deletion removes its clients through a foreign key: still on the feed.
    let doomed = app.create_client("acme", json!({})).await;
    let doomed = doomed["id"].as_str().unwrap().to_owned();
    seen = feed_after(&app, seen).await.1;
    send(&app, Method::DELETE, "/api/v1/tenants/acme", None).await;
    assert_client_change(&app, &mut seen, &doomed, "tenant deletion").await;
}

async fn keys_and_revocations_are_on_the_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    let seen = feed_after(&app, 0).await.1;
    send(
        &app,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"immediate": true})),
    )
    .await;
    let (rows, seen) = feed_after(&app, seen).await;
    assert!(
        rows.contains(&("key".to_owned(), String::new())),
        "{rows:?}"
    );

    let client = Credentials::of(&app.create_client("acme", json!({})).await);
    let oauth = OAuthEndpoints::of(&app);
    let token = oauth.access_token(&client).await;
    oauth.revoke(&client, &[("token", &token)]).await;
    let (rows, _) = feed_after(&app, seen).await;
    assert!(
        rows.iter().any(|(kind, _)| kind == "revoked_token"),
        "{rows:?}"
    );
}

async fn jwks_kids(http: &reqwest::Client, url: &str) -> Vec<String> {
    let jwks: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_key_change_reaches_the_other_process_within_a_second(backend: Backend) {
    // Without the feed the other process would wait signing.refresh_seconds.
    let app = crate::helpers::spawn_app_with(backend, |s| s.signing.refresh_seconds = 3600).await;
    let replica = Replica::of(&app).await;
    let http = reqwest::Client::new();
    let rotated = send(
        &app,
        Method::POST,
        "/api/v1/keys/rotate",
        Some(json!({"immediate": true})),
    )
    .await;
    let kid = rotated["kid"]
        .as_str()
        .expect("the new key's kid")
        .to_owned();
    assert!(jwks_kids(&http, &app.url("/.well-known/jwks.json"))
        .await
        .contains(&kid));
    let seen = eventually(PROPAGATION, || async {
        jwks_kids(&http, &replica.url("/.well-known/jwks.json"))
            .await
            .contains(&kid)
    })
    .await;
    assert!(seen.is_some(), "the replica does not publish {kid}");
}

/// On PostgreSQL a sequence number is drawn at insert while transactions commit in any
/// order, and nothing makes a later writer wait: a poll reads the later change while
/// the earlier one is still uncommitted, applies it at once, and reads the earlier one
/// when it commits (the number it skipped stays a gap it reads again).
#[tokio::test]
async fn a_change_committed_after_a_later_one_still_reaches_the_other_process() {
    use sqlx::Connection;
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = spawn_app(backend).await;
    let replica = Replica::of(&app).await;
    let on_replica = OAuthEndpoints::at(&replica.address);
    let first = Credentials::of(&app.create_client("acme", json!({})).await);
    let second = Credentials::of(&app.create_client("acme", json!({})).await);
    for client in [&first, &second] {
        // Cached by the replica from here on.
        assert_eq!(on_replica.token(client, &[]).await.status(), 200);
    }

    // The first client's change draws its number now (its trigger fired at once), and
    // its transaction stays open.
    let mut connection = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    let mut slow = connection.begin().await.unwrap();
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *slow)
        .await
        .unwrap();
    sqlx::query("UPDATE oauth_clients SET enabled = false WHERE id = $1")
        .bind(&first.id)
        .execute(&mut *slow)
        .await
        .unwrap();
    let drawn: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
        .fetch_one(&mut *slow)
        .await
        .unwrap();

    // A later change commits meanwhile, without waiting, and reaches the replica.
    let path = format!("/api/v1/oauth-clients/{}", second.id);
    send(&app, Method::PATCH, &path, Some(json!({"enabled": false}))).await;
    let later = feed_after(&app, drawn).await.1;
    assert!(later > drawn, "the later change has a later number");
    let refused = eventually(PROPAGATION, || async {
        on_replica.token(&second, &[]).await.status() == 401
    })
    .await;
    assert!(refused.is_some(), "the replica missed the later change");
    assert_eq!(
        on_replica.token(&first, &[]).await.status(),
        200,
        "nothing of the uncommitted change is visible yet"
    );

    // The earlier change commits last: the replica, long past its number, applies it.
    slow.commit().await.unwrap();
    let refused = eventually(2 * PROPAGATION, || async {
        on_replica.token(&first, &[]).await.status() == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "the replica skipped a change committed after a later one"
    );
}

/// A process whose next change was purged unread (it was away longer than the feed's
/// retention) cannot know what it missed: it drops every cached client. Simulated by
/// disabling a warmed-up client and removing the feed's rows, with the sequence moved
/// on, in one transaction.
async fn a_process_that_missed_purged_changes_rebuilds(backend: Backend) {
    use sqlx::Connection;
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);
    let created = app.create_client("acme", json!({})).await;
    let client = Credentials::of(&created);
    oauth.access_token(&client).await;
    oauth.access_token(&client).await;

    let disable = "UPDATE oauth_clients SET enabled = false WHERE id = $1";
    let dummy = "INSERT INTO changes (kind, subject, recorded_at) VALUES ('key', '', 0)";
    if app.store.backend() == "postgres" {
        let mut connection = sqlx::PgConnection::connect(&app.database.url)
            .await
            .unwrap();
        let mut tx = connection.begin().await.unwrap();
        // Fire the deferred client trigger now, so its row is purged below too.
        sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(disable)
            .bind(&client.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("DELETE FROM changes")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("SELECT setval('changes_seq', nextval('changes_seq') + 100)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(dummy).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    } else {
        let mut connection = sqlx::SqliteConnection::connect(&app.database.url)
            .await
            .unwrap();
        let mut tx = connection.begin().await.unwrap();
        sqlx::query(disable)
            .bind(&client.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("DELETE FROM changes")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("UPDATE sqlite_sequence SET seq = seq + 100 WHERE name = 'changes'")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(dummy).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    // Without the rebuild the cached client would be served for another minute.
    let refused = eventually(PROPAGATION, || async {
        oauth.token(&client, &[]).await.status() == 401
    })
    .await;
    assert!(
        refused.is_some(),
        "the process kept serving a client it missed changes of"
    );
}

/// Rows carry their writer's clock, and writers' clocks differ: a purge by time alone
/// would leave a hole in the middle of the feed that no reader notices. Only a prefix
/// goes, and the newest row stays.
async fn purging_takes_only_a_prefix_whatever_the_writers_clocks(backend: Backend) {
    let app = spawn_app(backend).await;
    let (old, new) = (1_000_i64, 9_000_000_000_000_i64);
    // Written by hosts with fast and slow clocks, in this order.
    const INSERT: &str =
        "INSERT INTO changes (kind, subject, recorded_at) VALUES ('client', 'x', $1)";
    const SEQS: &str = "SELECT seq FROM changes ORDER BY seq";
    for recorded_at in [old, new, old, new, new] {
        let inserted = match &app.store {
            Store::Sqlite(pool) => sqlx::query(INSERT)
                .bind(recorded_at)
                .execute(pool)
                .await
                .map(drop),
            Store::Postgres(pool) => sqlx::query(INSERT)
                .bind(recorded_at)
                .execute(pool)
                .await
                .map(drop),
        };
        inserted.unwrap();
    }
    let seqs = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            let seqs: Vec<i64> = match &store {
                Store::Sqlite(pool) => sqlx::query_scalar(SEQS).fetch_all(pool).await,
                Store::Postgres(pool) => sqlx::query_scalar(SEQS).fetch_all(pool).await,
            }
            .unwrap();
            seqs
        }
    };
    let before = seqs(&app).await;
    app.store.purge_changes(old + 1).await.unwrap();
    let after = seqs(&app).await;
    // Everything up to the third row (the last one recorded before the cut) is gone.
    assert_eq!(after, before[before.len() - 2..], "{before:?} -> {after:?}");
    app.store.purge_changes(new + 1).await.unwrap();
    assert_eq!(
        seqs(&app).await,
        [*before.last().unwrap()],
        "the newest stays"
    );
}
