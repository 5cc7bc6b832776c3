//! The `tessera` binary as a child process, for tests of the command itself and of
//! several processes on one database.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_tessera");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary, run in `dir` with none of the caller's Tessera settings.
pub fn tessera(dir: &Path) -> Command {
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

/// The issuer replicas share, as behind one load balancer.
pub const REPLICA_ISSUER: &str = "http://tessera.test";

/// The binary as one replica of a deployment: the database, the admin key and the
/// master key are shared, and so is the issuer ([`REPLICA_ISSUER`]).
pub fn replica(dir: &Path, database_url: &str, admin_key: &str, master_key: &str) -> Command {
    let mut command = tessera(dir);
    command
        .env("DATABASE_URL", database_url)
        .env("TESSERA_SERVER__ISSUER", REPLICA_ISSUER)
        .env("TESSERA_ADMIN__API_KEY", admin_key)
        .env("TESSERA_SIGNING__MASTER_KEY", master_key);
    command
}

pub struct Running {
    child: Child,
    stdout: Receiver<String>,
    /// Lines of stdout read so far, by [`Running::address`] or [`Running::stdout_so_far`].
    stdout_seen: std::cell::RefCell<Vec<String>>,
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
    pub fn start(dir: &Path) -> Running {
        Self::spawn(tessera(dir))
    }

    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera starts");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stdout_seen: Default::default(),
            stderr,
        }
    }

    /// The address from the "tessera listening" log line (JSON, or text).
    pub fn address(&self) -> String {
        loop {
            let line = self
                .stdout
                .recv_timeout(STARTUP_TIMEOUT)
                .expect("tessera logs its address");
            self.stdout_seen.borrow_mut().push(line.clone());
            if let Some((_, rest)) = line
                .contains("tessera listening")
                .then(|| line.split_once("bound="))
                .flatten()
            {
                let bound = rest.split_whitespace().next().unwrap_or_default();
                return format!("http://{bound}");
            }
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "tessera listening" {
                return format!("http://{}", event["bound"].as_str().unwrap());
            }
        }
    }

    /// Every line of stdout so far, waiting up to `settle` for more to arrive.
    pub fn stdout_so_far(&self, settle: Duration) -> Vec<String> {
        let mut seen = self.stdout_seen.borrow_mut();
        while let Ok(line) = self.stdout.recv_timeout(settle) {
            seen.push(line);
        }
        seen.clone()
    }

    pub fn stderr_so_far(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
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

    /// How the process ended, if it did within `within`.
    pub fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash or the OOM killer would end it: no shutdown, no last writes.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the killed process is reaped");
    }
}

impl Drop for Running {
    /// A failed test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
