//! `kill -9` at the worst moment: during a key rotation, a refresh token rotation and
//! an authorization code exchange, the `tessera` binary is killed a few milliseconds
//! into the request, again and again, each time at another point (the delays spread
//! over the time one such request takes). After each restart on the same database:
//!
//! - keys: exactly one active key, every rotation that was answered is there, and a
//!   token signed before still verifies (its key retired, not revoked);
//! - refresh: the session has exactly one usable refresh token, the old one or its
//!   successor, never both and never none; an answered rotation always happened;
//! - code exchange: the code is redeemed at most once; an answered exchange always
//!   counted, an unanswered one either did (the code refused) or did not (it works,
//!   once).
//!
//! The database is the judge: what it holds after the crash must match what the
//! restarted process answers.

use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tessera::store::Store;
use tessera::tokens::OpaqueToken;

use crate::helpers::{spawn_app_with, Backend, TestDatabase};
use crate::login_flow::{authorize_query, param, query_of, set_up, Pkce, REDIRECT_URI};
use crate::process::{replica, Running, REPLICA_ISSUER};
use crate::token_client::{Credentials, OAuthEndpoints};

crate::on_both_backends!(
    killed_during_key_rotation,
    killed_during_refresh_rotation,
    killed_during_code_exchange,
);

/// Crashes per scenario.
const ROUNDS: u32 = 8;

/// A database prepared by an in-process server, then served by killable processes.
struct Deployment {
    database: TestDatabase,
    dir: tempfile::TempDir,
    admin_key: String,
    master_key: String,
    /// The test's own connection, to see what the database holds after a crash.
    store: Store,
    /// A confidential client of `acme` for users (code and refresh grants), which also
    /// introspects.
    client: Credentials,
    /// An access token issued before any crash.
    token_before: String,
    /// What the set-up made for the scenario (sessions' refresh tokens, codes).
    prepared: Vec<Prepared>,
}

enum Prepared {
    RefreshToken(String),
    Code { code: String, verifier: String },
}

/// What the set-up makes besides the client.
enum Prepare {
    Nothing,
    Sessions(usize),
    Codes(usize),
}

impl Deployment {
    async fn set_up(backend: Backend, prepare: Prepare) -> Self {
        let app = spawn_app_with(backend, |settings| {
            settings.server.issuer = REPLICA_ISSUER.into();
            settings.tokens.refresh_grace_seconds = 0;
            settings.tokens.authorization_code_ttl_seconds = 600;
        })
        .await;
        let setup = set_up(
            &app,
            json!({"grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN", "CLIENT_CREDENTIALS"]}),
        )
        .await;
        let client = Credentials::new(
            &setup.client_id,
            setup.client_secret.as_deref().expect("confidential"),
        );
        let token_before = OAuthEndpoints::of(&app).access_token(&client).await;
        let user = tessera::users::UserId::parse(&setup.user_id).unwrap();
        let tenant = tessera::tenants::TenantId::parse("acme").unwrap();
        let mut prepared = Vec::new();
        match prepare {
            Prepare::Nothing => {}
            Prepare::Sessions(count) => {
                let known = app.clients.client(&setup.client_id).await.unwrap().unwrap();
                for _ in 0..count {
                    let now = Utc::now();
                    let request = tessera::sessions::StartSession {
                        user_id: user.clone(),
                        tenant_id: tenant.clone(),
                        refresh_token: tessera::sessions::offers_refresh(&known),
                        client: known.clone(),
                        scope: crate::sessions::scopes(&["read"]),
                        auth_time: now,
                    };
                    let mut tx = app.store.begin_write().await.unwrap();
                    let started =
                        tessera::sessions::start(&mut tx, request, &app.settings.tokens, now)
                            .await
                            .unwrap();
                    tx.commit().await.unwrap();
                    let raw = started.refresh_token.expect("a refresh token");
                    prepared.push(Prepared::RefreshToken(raw.expose().to_owned()));
                }
            }
            Prepare::Codes(count) => {
                for _ in 0..count {
                    let pkce = Pkce::new();
                    let query = authorize_query(
                        &setup.client_id,
                        &[
                            ("redirect_uri", REDIRECT_URI),
                            ("scope", "read"),
                            ("code_challenge", &pkce.challenge),
                            ("code_challenge_method", "S256"),
                        ],
                    );
                    let request = app
                        .oauth
                        .authorization_request(&query)
                        .await
                        .unwrap_or_else(|_| panic!("a valid authorization request"));
                    let now = Utc::now();
                    let redirect = app
                        .oauth
                        .issue_code(&request, &user, &tenant, now, now)
                        .await
                        .unwrap();
                    let code = param(&query_of(&redirect), "code").unwrap().to_owned();
                    prepared.push(Prepared::Code {
                        code,
                        verifier: pkce.verifier,
                    });
                }
            }
        }
        let (mut settings, admin_key, database) = app.stop().await;
        let master_key = settings.signing.master_key.expose_secret().to_owned();
        settings.database.max_connections = 1;
        let store = Store::connect(&settings.database).await.unwrap();
        Deployment {
            database,
            dir: tempfile::tempdir().unwrap(),
            admin_key,
            master_key,
            store,
            client,
            token_before,
            prepared,
        }
    }

    /// A new `tessera` process on the database, and its address once it listens.
    fn start(&self) -> (Running, OAuthEndpoints) {
        let mut command = replica(
            self.dir.path(),
            &self.database.url,
            &self.admin_key,
            &self.master_key,
        );
        command.env("TESSERA_TOKENS__REFRESH_GRACE_SECONDS", "0");
        let running = Running::spawn(command);
        let base = running.address();
        (running, OAuthEndpoints::at(&base))
    }

    /// One value of the database (`NULL` and no row both `None`).
    async fn value(&self, sql: &'static str, bind: &str) -> Option<String> {
        match &self.store {
            Store::Sqlite(pool) => sqlx::query_scalar::<_, Option<String>>(sql)
                .bind(bind)
                .fetch_optional(pool)
                .await
                .unwrap()
                .flatten(),
            Store::Postgres(pool) => sqlx::query_scalar::<_, Option<String>>(sql)
                .bind(bind)
                .fetch_optional(pool)
                .await
                .unwrap()
                .flatten(),
        }
    }

    async fn count(&self, sql: &'static str, bind: &str) -> i64 {
        match &self.store {
            Store::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sql)
                .bind(bind)
                .fetch_one(pool)
                .await
                .unwrap(),
            Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql)
                .bind(bind)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }
}

/// Sends `request` and kills `running` `delay` later: the response, if it came first.
async fn kill_during(
    running: Running,
    delay: Duration,
    request: reqwest::RequestBuilder,
) -> Option<(u16, Value)> {
    let sent = tokio::spawn(async move {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.ok()?;
        Some((status, body))
    });
    tokio::time::sleep(delay).await;
    running.kill();
    sent.await.expect("the request task ends")
}

/// The `round`-th of [`ROUNDS`] delays, from 0 to 1.2 times `took` (a first request to
/// a cold process: later ones are quicker), closer together at the start, where the
/// request is read, the work done and committed: some crashes land before the work,
/// some in it, some after it.
fn delay(round: u32, took: Duration) -> Duration {
    let share = f64::from(round) / f64::from(ROUNDS - 1);
    took.mul_f64(1.2 * share * share)
}

// --- keys -------------------------------------------------------------------------

fn rotate(oauth: &OAuthEndpoints, admin_key: &str) -> reqwest::RequestBuilder {
    oauth
        .http
        .post(format!("{}/api/v1/keys/rotate", oauth.base))
        .bearer_auth(admin_key)
        .json(&json!({"immediate": true}))
}

async fn killed_during_key_rotation(backend: Backend) {
    let deployment = Deployment::set_up(backend, Prepare::Nothing).await;
    let (running, oauth) = deployment.start();
    let started = Instant::now();
    let response = rotate(&oauth, &deployment.admin_key).send().await.unwrap();
    let took = started.elapsed();
    eprintln!("one key rotation takes {took:?}");
    assert_eq!(response.status(), 201);
    let mut answered = vec![kid_of(&response.json().await.unwrap())];
    running.kill();

    for round in 0..=ROUNDS {
        let (running, oauth) = deployment.start();
        assert_one_active_key(&deployment, &oauth, &answered).await;
        if round == ROUNDS {
            break;
        }
        let outcome = kill_during(
            running,
            delay(round, took),
            rotate(&oauth, &deployment.admin_key),
        )
        .await;
        eprintln!(
            "key rotation killed after {:?}: answered {}",
            delay(round, took),
            outcome.is_some()
        );
        if let Some((status, body)) = outcome {
            assert_eq!(status, 201, "{body}");
            answered.push(kid_of(&body));
        }
    }
}

fn kid_of(key: &Value) -> String {
    key["kid"].as_str().expect("a kid").to_owned()
}

/// Exactly one active key, published; every answered rotation's key is there; the
/// token from before verifies, and new tokens are signed by the active key.
async fn assert_one_active_key(
    deployment: &Deployment,
    oauth: &OAuthEndpoints,
    answered: &[String],
) {
    let keys: Value = oauth
        .http
        .get(format!("{}/api/v1/keys", oauth.base))
        .bearer_auth(&deployment.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = keys["keys"].as_array().expect("keys");
    let active: Vec<String> = keys
        .iter()
        .filter(|key| key["state"] == "active")
        .map(kid_of)
        .collect();
    assert_eq!(active.len(), 1, "one active key: {keys:?}");
    let stored: Vec<String> = keys.iter().map(kid_of).collect();
    for kid in answered {
        assert!(
            stored.contains(kid),
            "answered rotation to {kid} lost: {keys:?}"
        );
    }
    let jwks: Value = oauth
        .http
        .get(format!("{}/.well-known/jwks.json", oauth.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(kid_of)
        .collect();
    assert!(published.contains(&active[0]), "{jwks}");

    assert!(
        oauth
            .is_active(&deployment.client, &deployment.token_before)
            .await,
        "a token signed before the crashes verifies"
    );
    let token = oauth.access_token(&deployment.client).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(active[0].as_str()));
}

// --- refresh ----------------------------------------------------------------------

fn refresh(oauth: &OAuthEndpoints, client: &Credentials, token: &str) -> reqwest::RequestBuilder {
    oauth
        .http
        .post(format!("{}/oauth/token", oauth.base))
        .header("authorization", client.basic())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::token_client::form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
        ]))
}

fn hash(raw: &str) -> String {
    OpaqueToken::presented(raw).hash().as_str().to_owned()
}

async fn killed_during_refresh_rotation(backend: Backend) {
    let deployment = Deployment::set_up(backend, Prepare::Sessions(ROUNDS as usize + 1)).await;
    let mut fresh = deployment.prepared.iter().map(|prepared| match prepared {
        Prepared::RefreshToken(raw) => raw.clone(),
        Prepared::Code { .. } => unreachable!("sessions were prepared"),
    });
    let (running, oauth) = deployment.start();
    let started = Instant::now();
    let response = refresh(&oauth, &deployment.client, &fresh.next().unwrap())
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let mut current = body["refresh_token"].as_str().unwrap().to_owned();
    running.kill();

    // The token sent when the process was killed, and the answer if one came.
    let mut last: Option<(String, Option<String>)> = None;
    for round in 0..=ROUNDS {
        let (running, oauth) = deployment.start();
        if let Some((sent, successor)) = last.take() {
            current = match check_refresh_crash(&deployment, &oauth, &sent, successor).await {
                Some(usable) => usable,
                None => fresh.next().expect("a prepared session"),
            };
        }
        if round == ROUNDS {
            let response = refresh(&oauth, &deployment.client, &current)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "the usable token works after the crashes"
            );
            break;
        }
        let outcome = kill_during(
            running,
            delay(round, took),
            refresh(&oauth, &deployment.client, &current),
        )
        .await;
        let successor = outcome.map(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            body["refresh_token"].as_str().unwrap().to_owned()
        });
        last = Some((current.clone(), successor));
    }
}

/// After a crash during the refresh of `sent`: the database and the restarted process
/// agree on one usable refresh token for the session. Returns the one the client holds
/// (`None` when the rotation happened but its answer was lost with the process: the
/// client must sign in again, and its old token is refused).
async fn check_refresh_crash(
    deployment: &Deployment,
    oauth: &OAuthEndpoints,
    sent: &str,
    successor: Option<String>,
) -> Option<String> {
    let rotated = deployment
        .value(
            "SELECT CAST(used_at AS TEXT) FROM refresh_tokens WHERE token_hash = $1",
            &hash(sent),
        )
        .await
        .is_some();
    let session = deployment
        .value(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
            &hash(sent),
        )
        .await
        .expect("the token's row is kept");
    eprintln!(
        "refresh killed: answered {}, rotated {rotated}",
        successor.is_some()
    );
    let usable = deployment
        .count(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND used_at IS NULL",
            &session,
        )
        .await;
    assert_eq!(usable, 1, "exactly one usable refresh token in the session");
    if successor.is_some() {
        assert!(rotated, "an answered rotation was not kept");
    }
    let client = &deployment.client;
    assert_eq!(
        oauth.is_active(client, sent).await,
        !rotated,
        "the old token is usable exactly when the rotation did not happen"
    );
    match (rotated, successor) {
        (false, _) => Some(sent.to_owned()),
        (true, Some(successor)) => {
            assert!(
                oauth.is_active(client, &successor).await,
                "the answered successor works"
            );
            Some(successor)
        }
        (true, None) => {
            let replayed = refresh(oauth, client, sent).send().await.unwrap();
            assert_eq!(replayed.status(), 400, "the rotated token is refused");
            None
        }
    }
}

// --- code exchange ----------------------------------------------------------------

fn exchange(
    oauth: &OAuthEndpoints,
    client: &Credentials,
    code: &str,
    verifier: &str,
) -> reqwest::RequestBuilder {
    oauth
        .http
        .post(format!("{}/oauth/token", oauth.base))
        .header("authorization", client.basic())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::token_client::form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ]))
}

async fn killed_during_code_exchange(backend: Backend) {
    let deployment = Deployment::set_up(backend, Prepare::Codes(ROUNDS as usize + 1)).await;
    let codes: Vec<(&str, &str)> = deployment
        .prepared
        .iter()
        .map(|prepared| match prepared {
            Prepared::Code { code, verifier } => (code.as_str(), verifier.as_str()),
            Prepared::RefreshToken(_) => unreachable!("codes were prepared"),
        })
        .collect();
    let (running, oauth) = deployment.start();
    let started = Instant::now();
    let (code, verifier) = codes[0];
    let response = exchange(&oauth, &deployment.client, code, verifier)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    running.kill();

    let mut last: Option<((&str, &str), bool)> = None;
    for round in 0..=ROUNDS {
        let (running, oauth) = deployment.start();
        if let Some(((code, verifier), answered)) = last.take() {
            let used = deployment
                .value(
                    "SELECT CAST(used_at AS TEXT) FROM authorization_codes WHERE code_hash = $1",
                    &hash(code),
                )
                .await
                .is_some();
            eprintln!("code exchange killed: answered {answered}, redeemed {used}");
            if answered {
                assert!(used, "an answered exchange was not kept");
            }
            let again = exchange(&oauth, &deployment.client, code, verifier)
                .send()
                .await
                .unwrap();
            if used {
                assert_eq!(
                    again.status(),
                    400,
                    "a redeemed code is refused after the crash"
                );
            } else {
                assert_eq!(
                    again.status(),
                    200,
                    "an unredeemed code works after the crash"
                );
                let twice = exchange(&oauth, &deployment.client, code, verifier)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(twice.status(), 400, "and only once");
            }
        }
        if round == ROUNDS {
            break;
        }
        let code = codes[round as usize + 1];
        let outcome = kill_during(
            running,
            delay(round, took),
            exchange(&oauth, &deployment.client, code.0, code.1),
        )
        .await;
        let answered = outcome.is_some_and(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            true
        });
        last = Some((code, answered));
    }
}
