//! A PostgreSQL cluster of one test's own, which the test may stop and start again
//! (the shared server on `POSTGRES_TEST_URL` serves every other test and must stay up).
//!
//! It runs the PostgreSQL 15 binaries of the Debian package, as the `postgres` user when
//! the tests run as root (PostgreSQL refuses to run as root), with its data and its
//! socket in a temporary folder, on a free loopback port, `fsync` off. Dropped, it is
//! stopped at once and its folder removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// The account the cluster runs as when the tests run as root.
const SERVICE_USER: &str = "postgres";

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

/// Whether this process runs as root (its `/proc` entry is owned by its effective uid).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Whether CI runs the tests (`.ci/run` sets `CI=true`): there, what a test needs must
/// be there, and a missing piece fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

impl PrivatePostgres {
    /// A new cluster, started; `None` (with a message) where the binaries are missing,
    /// except in CI, where that fails the test.
    pub fn start() -> Option<Self> {
        if !Path::new(BIN_DIR).join("pg_ctl").exists() {
            assert!(!in_ci(), "CI=true but PostgreSQL 15 is not in {BIN_DIR}");
            eprintln!("skipped: PostgreSQL 15 binaries are not in {BIN_DIR}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tessera-private-pg-")
            .tempdir()
            .expect("temp dir");
        if running_as_root() {
            let status = Command::new("chown")
                .args([
                    &format!("{SERVICE_USER}:"),
                    &dir.path().display().to_string(),
                ])
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "cannot give the cluster folder to {SERVICE_USER}"
            );
        }
        let mut postgres = PrivatePostgres {
            port: free_port(),
            dir,
            running: false,
        };
        let data = postgres.data_dir();
        let initdb = postgres.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert!(initdb.status.success(), "initdb failed: {}", text(&initdb));
        postgres.start_again();
        Some(postgres)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: every backend killed, no shutdown checkpoint, as a
    /// crash or a pulled plug would leave it.
    pub fn stop_immediately(&mut self) {
        let data = self.data_dir().display().to_string();
        let stopped = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        assert!(stopped.status.success(), "pg_ctl stop: {}", text(&stopped));
        self.running = false;
    }

    /// Starts the cluster (again), waiting until it accepts connections.
    pub fn start_again(&mut self) {
        let data = self.data_dir().display().to_string();
        let log = self.dir.path().join("postgres.log").display().to_string();
        let socket_dir = self.dir.path().display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {socket_dir} -F",
            self.port
        );
        let started = self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "30", "start",
            ],
        );
        assert!(
            started.status.success(),
            "pg_ctl start: {}\n{}",
            text(&started),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the cluster's binaries, as the service user when this process is root.
    fn run(&self, binary: &str, args: &[&str]) -> Output {
        let program = Path::new(BIN_DIR).join(binary);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVICE_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {binary}: {error}"))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir().display().to_string();
            let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
