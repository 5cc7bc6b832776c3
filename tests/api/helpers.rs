//! Test harness: the real server on port 0, a fresh database per test, on SQLite and
//! (when `POSTGRES_TEST_URL` is set) on PostgreSQL.

use std::sync::Once;

use secrecy::SecretString;
use tessera::config::Settings;
use tessera::startup::Application;
use tessera::store::Store;

/// Names the PostgreSQL server the PostgreSQL variants of the tests use, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`. Unset: they are skipped.
pub const POSTGRES_URL_VAR: &str = "POSTGRES_TEST_URL";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend, or `None` to skip; with `POSTGRES_TEST_REQUIRED` set
    /// (as CI does), a missing URL fails the test instead of skipping it.
    pub fn postgres() -> Option<Backend> {
        let backend = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())
            .map(Backend::Postgres);
        if backend.is_none() && std::env::var_os("POSTGRES_TEST_REQUIRED").is_some() {
            panic!("POSTGRES_TEST_REQUIRED is set but {POSTGRES_URL_VAR} is not");
        }
        backend
    }
}

/// Declares each listed `async fn name(backend: Backend)` as two tests,
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    match $crate::helpers::Backend::postgres() {
                        Some(backend) => super::$name(backend).await,
                        None => eprintln!("skipped: {} is not set", $crate::helpers::POSTGRES_URL_VAR),
                    }
                }
            )+
        }
    };
}

/// A database that lives as long as the test: a temporary SQLite file, or a new
/// PostgreSQL database with a random name, dropped at the end.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The server and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/data/tessera.db", dir.path().display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres(server) => {
                use sqlx::Connection;
                let name = format!("tessera_test_{}", tessera::ids::random_id());
                let mut admin = sqlx::PgConnection::connect(server)
                    .await
                    .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(server).expect("valid PostgreSQL URL");
                url.set_path(&name);
                TestDatabase {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((server.clone(), name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // The test's runtime may be going away: drop it from a thread of its own, and
        // end the connections a server under test may still hold.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&server).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop a test database; it is left behind");
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of `server.metrics_listen`'s listener, when it is set.
    pub metrics_address: Option<String>,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub store: Store,
    pub keys: std::sync::Arc<tessera::keys::KeyService>,
    pub clients: std::sync::Arc<tessera::clients::ClientAuthenticator>,
    pub oauth: std::sync::Arc<tessera::oauth::OAuthServer>,
    pub issuer: String,
    handle: actix_web::dev::ServerHandle,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub database: TestDatabase,
}

pub fn test_settings(database_url: &str, admin_key: &str) -> Settings {
    let mut settings = Settings::load_from(None, &[]).expect("default settings");
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.workers = 1;
    settings.server.shutdown_timeout_seconds = 1;
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.database.max_connections = 4;
    settings.admin.api_key = SecretString::from(admin_key.to_owned());
    settings.signing.master_key = SecretString::from(random_master_key());
    // Every test sends from 127.0.0.1: only the tests of these limits set them low.
    settings.rate_limit.address_requests_per_second = 1_000_000;
    settings.rate_limit.address_burst = 1_000_000;
    settings.rate_limit.global_requests_per_second = 1_000_000;
    settings.rate_limit.global_burst = 1_000_000;
    settings
}

/// Base64 of 32 random bytes, as `signing.master_key` expects.
pub fn random_master_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let settings = Settings::load_from(None, &[]).unwrap();
            tessera::telemetry::init(&settings.log);
        }
    });
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with a chance to change the settings first.
pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut Settings)) -> TestApp {
    init_tracing();
    let database = TestDatabase::create(&backend).await;
    let admin_key = tessera::auth::admin_key::generate_key();
    let mut settings = test_settings(&database.url, &admin_key);
    customise(&mut settings);
    start(settings, admin_key, database).await
}

async fn start(settings: Settings, admin_key: String, database: TestDatabase) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let store = app.store();
    let keys = app.keys();
    let clients = app.clients();
    let oauth = app.oauth();
    let issuer = app.issuer().to_owned();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        admin_key,
        client: reqwest::Client::new(),
        settings,
        store,
        keys,
        clients,
        oauth,
        issuer,
        handle,
        running,
        database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        let (settings, admin_key, database) = self.stop().await;
        start(settings, admin_key, database).await
    }

    /// Like [`TestApp::restart`], with a chance to change the settings first (e.g. to
    /// name a client created by the first run).
    pub async fn restart_with(self, customise: impl FnOnce(&mut Settings)) -> TestApp {
        let (mut settings, admin_key, database) = self.stop().await;
        customise(&mut settings);
        start(settings, admin_key, database).await
    }

    /// Stops the server gracefully; returns what a new start on the same database needs.
    pub async fn stop(self) -> (Settings, String, TestDatabase) {
        self.handle.stop(true).await;
        // What the application does as it stops (writing the last uses) is done.
        self.running.await.ok();
        self.store.close().await;
        (self.settings, self.admin_key, self.database)
    }

    /// JSON from an admin GET.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let response = self
            .admin(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_key)
    }

    pub async fn put_tenant(&self, id: &str, body: serde_json::Value) -> reqwest::Response {
        self.admin(reqwest::Method::PUT, &format!("/api/v1/tenants/{id}"))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_tenant(&self, id: &str) -> reqwest::Response {
        self.admin(reqwest::Method::GET, &format!("/api/v1/tenants/{id}"))
            .send()
            .await
            .expect("request")
    }

    /// Creates the tenant if needed, then a client in it from [`client_body`] with
    /// `overrides` laid over; returns the creation response.
    pub async fn create_client(
        &self,
        tenant: &str,
        overrides: serde_json::Value,
    ) -> serde_json::Value {
        self.put_tenant(tenant, serde_json::json!({})).await;
        let mut body = client_body(tenant);
        for (key, value) in overrides.as_object().expect("an object") {
            body[key] = value.clone();
        }
        let response = self.post_client(&body).await;
        assert_eq!(response.status(), 200, "client creation");
        response.json().await.expect("JSON client")
    }

    pub async fn post_client(&self, body: &serde_json::Value) -> reqwest::Response {
        self.admin(reqwest::Method::POST, "/api/v1/oauth-clients")
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .admin(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Every row of every table as text, to search for what must never be stored.
    pub async fn database_text(&self) -> String {
        let mut text = String::new();
        match &self.store {
            Store::Sqlite(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                for table in tables {
                    let columns: Vec<String> =
                        sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                            .bind(&table)
                            .fetch_all(pool)
                            .await
                            .unwrap();
                    for column in columns {
                        let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                        let values: Vec<Option<Vec<u8>>> =
                            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                .fetch_all(pool)
                                .await
                                .unwrap();
                        for value in values.into_iter().flatten() {
                            text.push_str(&String::from_utf8_lossy(&value));
                            text.push('\n');
                        }
                    }
                }
            }
            Store::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public'",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for table in tables {
                    let sql = format!("SELECT t::text FROM \"{table}\" t");
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                    text.extend(rows.into_iter().map(|v| v + "\n"));
                }
            }
        }
        text
    }

    /// The items of the first page of `GET /api/v1/audit-events?{query}`.
    /// Runs one statement on the app's database, as it is (a test's own SQL).
    pub async fn execute_sql(&self, sql: &'static str) {
        match &self.store {
            Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Makes the change feed unreadable (its table renamed away) while the rest of the
    /// database answers, or readable again.
    pub async fn hide_change_feed(&self, hidden: bool) {
        self.execute_sql(if hidden {
            "ALTER TABLE changes RENAME TO changes_hidden"
        } else {
            "ALTER TABLE changes_hidden RENAME TO changes"
        })
        .await;
    }

    pub async fn audit_events(&self, query: &str) -> Vec<serde_json::Value> {
        let response = self
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/audit-events?{query}"),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let page: serde_json::Value = response.json().await.expect("JSON page");
        page["items"].as_array().expect("items").clone()
    }
}

/// The request body of seed 002's example, in `tenant`.
pub fn client_body(tenant: &str) -> serde_json::Value {
    serde_json::json!({
        "tenantId": tenant,
        "businessName": "Acme-Solar",
        "homepageUrl": "http://localhost:12345",
        "name": "Demo API Client",
        "description": "An API client used for the authorization_code, refresh_token, and client_credentials flows",
        "accessTokenValiditySeconds": 750,
        "refreshTokenValiditySeconds": 86400,
        "redirectUris": ["http://localhost:12345"],
        "grantTypes": ["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "REFRESH_TOKEN"],
        "accessType": "OFFLINE",
        "type": "CONFIDENTIAL",
        "internal": false,
        "enabled": true,
        "strongAuthSupported": false,
        "claimsSupported": false
    })
}

/// The `text` of each cause of an error body.
pub fn causes(body: &serde_json::Value) -> Vec<String> {
    body["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|cause| cause["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks the seed-002 error body and its tie to `X-Request-Id`; returns the body.
pub async fn assert_api_error(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["trackingId"], request_id.as_str(), "{body}");
    assert!(
        body["detailCode"]
            .as_str()
            .unwrap()
            .starts_with(&status.to_string()),
        "{body}"
    );
    let message = &body["messages"][0];
    assert_eq!(message["locale"], "en-US", "{body}");
    assert_eq!(message["localeOrigin"], "DEFAULT", "{body}");
    assert!(!message["text"].as_str().unwrap().is_empty(), "{body}");
    assert!(body["causes"].is_array(), "{body}");
    body
}

/// Asks `check` every 20 ms until it says yes; how long that took, or `None` if it
/// still said no after `within`.
pub async fn eventually<F, Fut>(
    within: std::time::Duration,
    mut check: F,
) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
