//! The OpenAPI document, fuzzed: schemathesis (installed by `scripts/install-test-deps`
//! into `$HOME/.cache/tessera/venv`) runs against a live server on each database, with
//! the document the server serves at `/api/v1/openapi.json`. It fails the test on any
//! 5xx, on a status, content type, header or body the document does not describe, on a
//! request the document allows that the server refuses, and on an invalid one it accepts.
//!
//! Two runs per database, as a tenant admin and then as the global admin (the global
//! admin's run may delete what the first run needs). Each run has a user's access token
//! for the user's own operations, a confidential client's credentials for `/oauth/*`,
//! and separate tokens for the operations that revoke their own credential, so one
//! logout does not turn the rest of the run into 401s.
//!
//! Without schemathesis the test is skipped, unless `CI=true`: there it fails.
//! `TESSERA_FUZZ_EXAMPLES` (default 25) sets the examples per operation and
//! `TESSERA_FUZZ_SEED` the seed (fixed by default, so CI is repeatable);
//! `scripts/fuzz-api` runs a longer search.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::login_flow::add_member;
use crate::users::{create_user, PASSWORD};

crate::on_both_backends!(the_api_holds_to_its_openapi_document);

/// Its own name, so the documents' examples (seed tenants) never touch it.
const TENANT: &str = "fuzz-fixture";
const DEFAULT_EXAMPLES: u32 = 25;

/// `expected-statuses` of `positive_data_acceptance` for the operations where a request
/// the document allows may still be refused with 400, because what decides it is not a
/// property of the request's shape, and each case is the right answer: an opaque list
/// cursor this list never returned; a body whose fields contradict each other
/// (`REFRESH_TOKEN` without `AUTHORIZATION_CODE`) or name something that does not exist
/// (a `clientId` that is not an internal client, a `defaultTenantId` no tenant has); a
/// parameter the admin API key must add (`tenantId`); and the OAuth endpoints, where
/// RFC 6749 §5.2 and §4.1.2.1 answer 400 for a code, token, client or redirect URI that
/// is well-formed but not one the server issued or knows. Every other check (no 5xx,
/// documented statuses, bodies and headers, invalid input refused) still applies.
const MAY_REFUSE: &str = r#"checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]"#;
const DEFAULT_SEED: u64 = 20261203;

async fn the_api_holds_to_its_openapi_document(backend: Backend) {
    let Some(schemathesis) = schemathesis() else {
        return;
    };
    let app = spawn_app(backend).await;
    let fixture = Fixture::create(&app).await;
    let work = tempfile::tempdir().unwrap();

    let tenant_admin = fixture.tenant_token(&app).await;
    run(
        &schemathesis,
        &app,
        &fixture,
        &tenant_admin,
        "tenant-admin",
        &work,
    )
    .await;
    run(
        &schemathesis,
        &app,
        &fixture,
        &app.admin_key,
        "admin",
        &work,
    )
    .await;
}

/// Where schemathesis is: the project's venv, or `TESSERA_SCHEMATHESIS`.
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("TESSERA_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/tessera/venv/bin/schemathesis"))
        })
        .filter(|path| path.exists());
    if path.is_none() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("CI=true but schemathesis is missing: scripts/install-test-deps installs it");
        }
        eprintln!("skipped: schemathesis is missing (scripts/install-test-deps installs it)");
    }
    path
}

/// What the runs authenticate with.
struct Fixture {
    basic: String,
}

impl Fixture {
    async fn create(app: &TestApp) -> Fixture {
        let client = app
            .create_client(TENANT, json!({"allowedScopes": ["read", "write"]}))
            .await;
        let id = client["id"].as_str().unwrap();
        let secret = client["secret"].as_str().unwrap();
        let user = create_user(app, "fuzzer", json!({"defaultTenantId": TENANT})).await;
        add_member(app, TENANT, user["id"].as_str().unwrap()).await;
        Fixture {
            basic: STANDARD.encode(format!("{id}:{secret}")),
        }
    }

    async fn tenant_token(&self, app: &TestApp) -> String {
        let token: Value = app
            .admin(Method::GET, &format!("/api/v1/tenants/{TENANT}/token"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        token["token"]
            .as_str()
            .unwrap_or_else(|| panic!("a tenant admin token: {token}"))
            .to_owned()
    }

    /// A fresh session's access token for the user.
    async fn user_token(&self, app: &TestApp) -> String {
        let response = app
            .client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"username": "fuzzer", "password": PASSWORD, "tenantId": TENANT}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "the fuzz user signs in");
        let tokens: Value = response.json().await.expect("JSON");
        tokens["accessToken"].as_str().unwrap().to_owned()
    }
}

/// One schemathesis run with `bearer` on the admin API.
async fn run(
    schemathesis: &PathBuf,
    app: &TestApp,
    fixture: &Fixture,
    bearer: &str,
    name: &str,
    work: &tempfile::TempDir,
) {
    // Operations that revoke the credential they are called with get their own.
    let own_tenant_token = fixture.tenant_token(app).await;
    let tenant_token = fixture.tenant_token(app).await;
    let user = fixture.user_token(app).await;
    let own_user = fixture.user_token(app).await;
    let config = format!(
        r#"
headers = {{ Authorization = "Bearer {bearer}" }}

[generation]
max-examples = {examples}

# Each operation matches one block at most: a block holds all its settings.
[[operations]]
include-name-regex = "^[A-Z]+ /oauth/"
headers = {{ Authorization = "Basic {basic}" }}
{may_refuse}

[[operations]]
include-name-regex = "^(GET|HEAD) /api/v[12]/tokens/me$"
headers = {{ Authorization = "Bearer {user}" }}

[[operations]]
include-name = "POST /api/v1/tokens/switch"
headers = {{ Authorization = "Bearer {user}" }}
{may_refuse}

[[operations]]
include-name-regex = "^DELETE /api/v[12]/tokens/me$"
headers = {{ Authorization = "Bearer {own_user}" }}

[[operations]]
include-name = "DELETE /api/v1/tenant/token"
headers = {{ Authorization = "Bearer {own_tenant_token}" }}

# Only a tenant admin token has an own tenant to act on.
[[operations]]
include-name-regex = "^GET /api/v1/tenant/(token|portal)$"
headers = {{ Authorization = "Bearer {tenant_token}" }}

# The admin API key must name the tenant (`tenantId`), which a tenant admin must not.
[[operations]]
include-name-regex = "^(GET|PUT) /api/v[12]/tokens/timeout$"
{may_refuse}

[[operations]]
include-name-regex = "^GET /api/v1/(audit-events|oauth-clients|users|tenants/[^/]+/members)$"
{may_refuse}

[[operations]]
include-name-regex = "^(POST /api/v1/oauth-clients|PATCH /api/v1/oauth-clients/[^/]+|POST /api/v1/tokens(/refresh)?|POST /api/v1/users|PATCH /api/v1/users/[^/]+)$"
{may_refuse}
"#,
        may_refuse = MAY_REFUSE,
        basic = fixture.basic,
        examples = examples(),
    );
    let config_file = work.path().join(format!("{name}.toml"));
    std::fs::write(&config_file, config).unwrap();
    let report = work.path().join(format!("{name}-report"));

    let output = tokio::process::Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config_file)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.address])
        .args(["--checks", "all"])
        .args(["--seed", &seed().to_string()])
        .args(["--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--request-timeout", "20"])
        .arg("--report-dir")
        .arg(&report)
        .args(["--output-sanitize", "true"])
        .current_dir(work.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems in the {name} run:\n{stdout}\n{stderr}"
    );
    eprintln!("schemathesis, {name} run:\n{}", tail(&stdout, 30));
}

fn examples() -> u32 {
    std::env::var("TESSERA_FUZZ_EXAMPLES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_EXAMPLES)
}

fn seed() -> u64 {
    std::env::var("TESSERA_FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
