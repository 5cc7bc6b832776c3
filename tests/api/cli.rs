//! The `tessera` binary itself: first start, restart, configuration errors, migrate,
//! graceful shutdown.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_tessera");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary, run in `dir` with none of the caller's Tessera settings.
fn tessera(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .env("TESSERA_SERVER__LISTEN", "127.0.0.1:0")
        .env("TESSERA_SERVER__WORKERS", "1")
        .env("TESSERA_LOG__FORMAT", "json");
    command
}

struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Running {
    fn start(dir: &Path) -> Running {
        let mut child = tessera(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera starts");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The address from the "tessera listening" log line.
    fn address(&self) -> String {
        loop {
            let line = self
                .stdout
                .recv_timeout(STARTUP_TIMEOUT)
                .expect("tessera logs its address");
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "tessera listening" {
                return format!("http://{}", event["bound"].as_str().unwrap());
            }
        }
    }

    fn stderr_so_far(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        panic!("tessera did not stop within 10 s of SIGTERM");
    }
}

fn generated_key(stderr: &[String]) -> Option<String> {
    stderr.iter().find_map(|line| {
        line.trim()
            .strip_prefix("admin API key: ")
            .map(str::to_owned)
    })
}

#[tokio::test]
async fn first_start_prints_a_key_once_and_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let first = Running::start(dir.path());
    let address = first.address();
    let key = generated_key(&first.stderr_so_far()).expect("the generated key is printed");
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
        generated_key(&second.stderr_so_far()),
        None,
        "the key is printed only once"
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
