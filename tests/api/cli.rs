//! The `tessera` binary itself: first start, restart, configuration errors, migrate,
//! graceful shutdown.

use std::path::Path;
use std::time::Duration;

use crate::process::{tessera, Running};

/// The generated key, which a start without a terminal writes to this file only.
fn generated_key(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("keys/admin-api-key")).ok()?;
    Some(text.trim().to_owned())
}

#[tokio::test]
async fn first_start_writes_a_key_once_to_a_file_and_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let first = Running::start(dir.path());
    let address = first.address();
    let key = generated_key(dir.path()).expect("the generated key is in keys/admin-api-key");
    assert_eq!(key.len(), 43);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.path().join("keys/admin-api-key");
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner may read it");
    }
    let stdout = first.stdout_so_far(Duration::from_millis(200));
    assert!(
        stdout
            .iter()
            .any(|line| line.contains("admin API key") && line.contains("keys/admin-api-key")),
        "the file's path is logged: {stdout:?}"
    );
    let stderr = first.stderr_so_far();
    for line in stdout.iter().chain(&stderr) {
        assert!(
            !line.contains(&key),
            "the key never reaches the output: {line}"
        );
    }
    let created = client
        .put(format!("{address}/api/v1/tenants/acme"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(first.terminate().success(), "SIGTERM is a clean exit");
    assert!(
        dir.path().join("data/tessera.db").exists(),
        "the default database lives in data/"
    );

    std::fs::remove_file(dir.path().join("keys/admin-api-key")).unwrap();
    let second = Running::start(dir.path());
    let address = second.address();
    let fetched = client
        .get(format!("{address}/api/v1/tenants/acme"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fetched.status(),
        200,
        "the stored key and the tenant survive"
    );
    assert_eq!(
        generated_key(dir.path()),
        None,
        "the key is generated and written only once"
    );
    assert!(second.terminate().success());
}

#[test]
fn configuration_errors_name_the_key_and_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, expected) in [
        ("TESSERA_SERVER__LISTNE", "127.0.0.1:1", "listne"),
        (
            "TESSERA_SERVER__BODY_LIMIT_BYTES",
            "lots",
            "body_limit_bytes",
        ),
        ("TESSERA_ADMIN__API_KEY", "short", "admin.api_key"),
    ] {
        let output = tessera(dir.path()).env(name, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created on a bad start"
    );
}

#[test]
fn migrate_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = tessera(dir.path()).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrations applied"));
    assert!(dir.path().join("data/tessera.db").exists());
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    tessera(dir).args(args).output().unwrap()
}

#[test]
fn keys_commands_list_rotate_and_import() {
    use tessera::keys::Algorithm;
    let dir = tempfile::tempdir().unwrap();

    let listed = run(dir.path(), &["keys", "list"]);
    assert!(listed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).lines().count(),
        1,
        "only the header"
    );

    let rotated = run(dir.path(), &["keys", "rotate"]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let stdout = String::from_utf8_lossy(&rotated.stdout);
    assert!(stdout.contains("rotation started"), "{stdout}");
    assert!(
        stdout.contains("active") && stdout.contains("pending"),
        "{stdout}"
    );
    assert!(
        dir.path().join("keys/master.key").exists(),
        "the master key file is created"
    );

    let again = run(dir.path(), &["keys", "rotate"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already under way"));
    let immediate = run(dir.path(), &["keys", "rotate", "--immediate"]);
    assert!(immediate.status.success());

    let pkcs8 = Algorithm::ES256.generate_pkcs8().unwrap();
    let pem_file = dir.path().join("old.pem");
    std::fs::write(&pem_file, pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8))).unwrap();
    let pem_path = pem_file.to_str().unwrap();
    let imported = run(
        dir.path(),
        &[
            "keys", "import", "--alg", "ES256", "--kid", "legacy-1", pem_path,
        ],
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let stdout = String::from_utf8_lossy(&imported.stdout);
    assert!(stdout.contains("imported key legacy-1"), "{stdout}");
    let legacy_line = stdout
        .lines()
        .find(|line| line.starts_with("legacy-1"))
        .unwrap();
    assert!(
        legacy_line.contains("retired") && legacy_line.contains("imported"),
        "{legacy_line}"
    );

    let wrong_alg = run(dir.path(), &["keys", "import", "--alg", "EdDSA", pem_path]);
    assert!(!wrong_alg.status.success());
    let sec1 = dir.path().join("sec1.pem");
    std::fs::write(
        &sec1,
        pem::encode(&pem::Pem::new("EC PRIVATE KEY", vec![1, 2, 3])),
    )
    .unwrap();
    let refused = run(
        dir.path(),
        &["keys", "import", "--alg", "ES256", sec1.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("openssl pkcs8"));
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the command prints one JSON document")
}

#[test]
fn keys_commands_print_the_api_json_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let listed = json_of(&run(dir.path(), &["--json", "keys", "list"]));
    assert_eq!(listed, serde_json::json!({"keys": []}));

    let rotated = json_of(&run(
        dir.path(),
        &["--json", "keys", "rotate", "--immediate"],
    ));
    let kid = rotated["kid"]
        .as_str()
        .expect("the new key's kid")
        .to_owned();
    assert_eq!(rotated["state"], "active", "{rotated}");
    assert!(rotated["createdAt"].is_string() && rotated["revokedAt"].is_null());

    let listed = json_of(&run(dir.path(), &["--json", "keys", "list"]));
    let keys = listed["keys"].as_array().unwrap();
    assert!(
        keys.iter().any(|key| key["kid"] == kid.as_str()),
        "{listed}"
    );

    let revoked = json_of(&run(dir.path(), &["--json", "keys", "revoke", &kid]));
    assert_eq!(revoked["kid"], kid.as_str());
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    assert!(revoked["revokedAt"].is_string());
    let listed = json_of(&run(dir.path(), &["--json", "keys", "list"]));
    let active: Vec<_> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key["state"] == "active")
        .collect();
    assert_eq!(active.len(), 1, "a new key took over: {listed}");

    let again = run(dir.path(), &["keys", "revoke", &kid]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unrevoked signing key"));
}

#[tokio::test]
async fn caller_chosen_strings_reach_the_log_bounded_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command
        .env("TESSERA_LOG__FORMAT", "text")
        .env("TESSERA_ADMIN__API_KEY", "an admin key for this test");
    let running = Running::spawn(command);
    let address = running.address();
    let client = reqwest::Client::new();

    let evil_id = format!("\u{1b}[31mEVIL\r\nforged line\u{7}{}", "A".repeat(5_000));
    let body = crate::token_client::form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &evil_id),
        ("client_secret", "wrong"),
    ]);
    let refused = client
        .post(format!("{address}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let long_path = format!("/api/v1/{}", "x/".repeat(5_000));
    let missing = client
        .get(format!("{address}{long_path}"))
        .send()
        .await
        .unwrap();
    assert!(missing.status().is_client_error());

    let lines = running.stdout_so_far(Duration::from_millis(500));
    for line in &lines {
        assert!(
            !line.chars().any(char::is_control),
            "a raw control character (or colour code) in the log: {line:?}"
        );
        assert!(
            line.len() < 1_000,
            "an unbounded log line: {} bytes",
            line.len()
        );
    }
    let failed = lines
        .iter()
        .find(|line| line.contains("client authentication failed"))
        .expect("the failed authentication is logged");
    assert!(
        failed.contains(r"\u{1b}[31mEVIL\u{d}\u{a}forged line\u{7}AAA"),
        "{failed}"
    );
    assert!(failed.contains("bytes)"), "the client id is cut: {failed}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("/api/v1/x/x/") && line.contains("bytes)")),
        "the long path is logged, cut: {lines:?}"
    );
    assert!(running.terminate().success());
}
