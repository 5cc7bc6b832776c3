//! The admin commands of the `tessera` binary (issue 13): a whole set-up — tenant,
//! client, secret, user, membership — run as another process against a running
//! server's database, which serves what they made at once; the API's JSON with
//! `--json`; bad input refused with a message and nothing stored. On both databases.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{eventually, spawn_app, Backend, TestApp};
use crate::process::tessera;
use crate::token_client::{Credentials, OAuthEndpoints};

crate::on_both_backends!(
    a_set_up_through_the_cli_is_served_by_the_running_server,
    bad_input_is_refused_with_a_message_and_nothing_stored,
);

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!("stdout is one JSON document ({error}): {}", self.stdout)
        })
    }
}

/// `tessera ARGS` on the app's database with its master key, `stdin` as its input.
fn cli(app: &TestApp, args: &[&str], stdin: &str) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tessera(dir.path())
        .env("DATABASE_URL", &app.database.url)
        .env(
            "TESSERA_SIGNING__MASTER_KEY",
            app.settings.signing.master_key.expose_secret(),
        )
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn a_set_up_through_the_cli_is_served_by_the_running_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let oauth = OAuthEndpoints::of(&app);

    let tenant = cli(
        &app,
        &["--json", "tenants", "put", "acme", "--name", "Acme"],
        "",
    )
    .json();
    assert_eq!(tenant["id"], "acme");
    assert_eq!(tenant["name"], "Acme");
    let (status, shown) = app.get_json("/api/v1/tenants/acme").await;
    assert_eq!(status, 200);
    assert_eq!(shown, tenant, "the CLI prints the API's JSON");

    // A client and its secret, printed once; the server authenticates it at once.
    let created = cli(
        &app,
        &[
            "--json",
            "clients",
            "create",
            "--tenant",
            "acme",
            "--name",
            "billing",
            "--description",
            "Billing service",
            "--scope",
            "invoices:read",
        ],
        "",
    )
    .json();
    let client_id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    assert_eq!(created["allowedScopes"][0], "invoices:read");
    let first = Credentials::new(&client_id, &secret);
    assert!(!oauth.access_token(&first).await.is_empty());
    let (_, shown) = app
        .get_json(&format!("/api/v1/oauth-clients/{client_id}"))
        .await;
    assert!(shown.get("secret").is_none(), "never shown again");

    let added = cli(
        &app,
        &[
            "--json",
            "secrets",
            "add",
            &client_id,
            "--name",
            "rotation-2027",
        ],
        "",
    )
    .json();
    // The server had the client cached: the change feed tells it of the new secret
    // within a second.
    let second = Credentials::new(&client_id, added["token"].as_str().unwrap());
    let learned = eventually(Duration::from_secs(1), || async {
        oauth.token(&second, &[]).await.status() == 200
    })
    .await;
    assert!(learned.is_some(), "the new secret works within a second");

    // Human output: a table that names the client.
    let listed = cli(&app, &["clients", "list", "--tenant", "acme"], "");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.starts_with("ID"), "{}", listed.stdout);
    assert!(listed.stdout.contains(&client_id) && listed.stdout.contains("billing"));

    // A user (the password from stdin), a tenant admin; then disabled.
    let user = cli(
        &app,
        &[
            "--json",
            "users",
            "create",
            "alice",
            "--password-stdin",
            "--default-tenant",
            "acme",
        ],
        "correct horse battery\n",
    )
    .json();
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert!(!cli(&app, &["users", "list"], "")
        .stdout
        .contains("correct horse"));
    let member = cli(
        &app,
        &[
            "--json", "members", "put", "acme", &user_id, "--role", "admin",
        ],
        "",
    )
    .json();
    assert_eq!(member["roles"], serde_json::json!(["admin"]));
    let (_, members) = app.get_json("/api/v1/tenants/acme/members").await;
    assert!(members.to_string().contains(&user_id), "{members}");
    let disabled = cli(&app, &["--json", "users", "disable", &user_id], "").json();
    assert_eq!(disabled["enabled"], false);
    let (_, shown) = app.get_json(&format!("/api/v1/users/{user_id}")).await;
    assert_eq!(shown["enabled"], false);

    // Every change is audited as the CLI's.
    let events = app.audit_events("limit=100").await;
    assert!(
        events
            .iter()
            .filter(|event| event["actor"] == "cli")
            .count()
            >= 6,
        "{events:?}"
    );

    // Deletions.
    let secret_id = added["id"].as_i64().unwrap().to_string();
    let deleted = cli(&app, &["secrets", "delete", &client_id, &secret_id], "");
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(
        cli(&app, &["members", "delete", "acme", &user_id], "").code,
        0
    );
    assert_eq!(cli(&app, &["clients", "delete", &client_id], "").code, 0);
    let response = app
        .admin(Method::GET, &format!("/api/v1/oauth-clients/{client_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(cli(&app, &["tenants", "delete", "acme"], "").code, 0);
    assert_eq!(app.get_tenant("acme").await.status(), 404);
}

async fn bad_input_is_refused_with_a_message_and_nothing_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_tenant("acme", serde_json::json!({})).await;

    let refused = cli(
        &app,
        &[
            "clients",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--description",
            "d",
            "--grant-type",
            "IMPLICIT",
        ],
        "",
    );
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("grantTypes"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty());
    let listed = cli(&app, &["--json", "clients", "list"], "").json();
    assert_eq!(listed, serde_json::json!([]), "nothing stored");

    let nowhere = cli(
        &app,
        &[
            "clients",
            "create",
            "--tenant",
            "nowhere",
            "--name",
            "x",
            "--description",
            "d",
        ],
        "",
    );
    assert_eq!(nowhere.code, 1);
    assert!(
        nowhere.stderr.contains("no tenant 'nowhere'"),
        "{}",
        nowhere.stderr
    );

    // A password never on the command line, and never empty.
    let without = cli(&app, &["users", "create", "bob"], "secret password\n");
    assert_eq!(without.code, 2, "clap refuses: {}", without.stderr);
    let empty = cli(&app, &["users", "create", "bob", "--password-stdin"], "");
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("no password"), "{}", empty.stderr);
    let short = cli(
        &app,
        &["users", "create", "bob", "--password-stdin"],
        "short\n",
    );
    assert_eq!(short.code, 1);
    assert!(short.stderr.contains("password"), "{}", short.stderr);
    assert_eq!(
        cli(&app, &["--json", "users", "list"], "").json(),
        serde_json::json!([])
    );

    let missing = cli(
        &app,
        &["clients", "get", "0123456789abcdef0123456789abcdef"],
        "",
    );
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no client"), "{}", missing.stderr);
    let malformed = cli(&app, &["members", "put", "acme", "not-an-id"], "");
    assert_eq!(malformed.code, 1);
    assert!(malformed.stderr.contains("user id"), "{}", malformed.stderr);
}
