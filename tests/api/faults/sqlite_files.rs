//! The SQLite file and its disk: a database that cannot be written stops the start with
//! an error naming the file; a full disk (a small tmpfs) makes writes fail cleanly
//! while reads go on, corrupts nothing, and writes work again once there is space, with
//! no restart.
//!
//! Root bypasses file permissions, so as root the unwritable file is on a tmpfs mounted
//! read-only; otherwise its permissions say so. The full disk needs a mount, so root:
//! elsewhere the test is skipped (in CI, where the tests run as root, it fails instead).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{random_master_key, spawn_app_with, test_settings, Backend};
use crate::private_postgres::{in_ci, running_as_root};
use crate::process::{tessera, Running};
use crate::token_client::{Credentials, OAuthEndpoints};

/// A tmpfs of `size` mounted on a folder of its own, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tessera-tmpfs-")
            .tempdir()
            .expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tessera-test"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            mounted.success(),
            "cannot mount a tmpfs on {:?}",
            dir.path()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, option: &str) {
        let remounted = Command::new("mount")
            .args(["-o", &format!("remount,{option}")])
            .arg(self.path())
            .status()
            .expect("mount runs");
        assert!(
            remounted.success(),
            "cannot remount {:?} {option}",
            self.path()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a server of the test may still hold the database open.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Creates the database `url` names, migrated, and closes it.
async fn create_database(url: &str) {
    let settings = test_settings(url, "unused");
    let store = tessera::store::Store::connect(&settings.database)
        .await
        .expect("database opens");
    store.migrate().await.expect("migrations apply");
    store.close().await;
}

/// A read-only bind mount of one file over itself, undone when dropped.
struct ReadOnlyFile(PathBuf);

impl ReadOnlyFile {
    fn mount(file: &Path) -> Self {
        for args in [vec!["--bind"], vec!["-o", "remount,ro,bind"]] {
            let mounted = Command::new("mount")
                .args(args)
                .arg(file)
                .arg(file)
                .status()
                .expect("mount runs");
            assert!(mounted.success(), "cannot make {file:?} read-only");
        }
        ReadOnlyFile(file.to_owned())
    }
}

impl Drop for ReadOnlyFile {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn make_read_only(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Starts `tessera` on the SQLite database `file`: the start must fail, saying it cannot
/// write that file.
fn assert_start_fails_naming(file: &Path) {
    let work = tempfile::tempdir().unwrap();
    let mut command = tessera(work.path());
    command
        .env("DATABASE_URL", format!("sqlite://{}", file.display()))
        .env(
            "TESSERA_ADMIN__API_KEY",
            tessera::auth::admin_key::generate_key(),
        )
        .env("TESSERA_SIGNING__MASTER_KEY", random_master_key());
    let mut running = Running::spawn(command);
    let status = running
        .exit_within(Duration::from_secs(30))
        .expect("a start on an unwritable database ends");
    assert!(!status.success(), "the start fails");
    std::thread::sleep(Duration::from_millis(100));
    let stderr = running.stderr_so_far().join("\n");
    assert!(
        stderr.contains(&format!(
            "cannot write the SQLite database {}",
            file.display()
        )),
        "the error names the file: {stderr}"
    );
}

#[tokio::test]
async fn a_read_only_folder_stops_the_start_naming_the_file() {
    let tmpfs = running_as_root().then(|| Tmpfs::mount("16m"));
    let plain = tempfile::tempdir().unwrap();
    let folder = match &tmpfs {
        Some(tmpfs) => tmpfs.path().to_owned(),
        None => plain.path().join("data"),
    };
    let file = folder.join("tessera.db");
    create_database(&format!("sqlite://{}", file.display())).await;
    match &tmpfs {
        Some(tmpfs) => tmpfs.remount("ro"),
        None => {
            for entry in std::fs::read_dir(&folder).unwrap() {
                make_read_only(&entry.unwrap().path(), 0o444);
            }
            make_read_only(&folder, 0o555);
        }
    }
    assert_start_fails_naming(&file);
    if tmpfs.is_none() {
        make_read_only(&folder, 0o755);
    }
}

#[tokio::test]
async fn a_read_only_file_in_a_writable_folder_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data").join("tessera.db");
    create_database(&format!("sqlite://{}", file.display())).await;
    let _read_only = if running_as_root() {
        Some(ReadOnlyFile::mount(&file))
    } else {
        make_read_only(&file, 0o444);
        None
    };
    assert_start_fails_naming(&file);
}

/// Fills the file system of `folder` to the last byte; the filler's path.
fn fill(folder: &Path) -> PathBuf {
    let path = folder.join("filler");
    let mut filler = std::fs::File::create(&path).expect("filler file");
    for chunk in [64 * 1024, 4096, 512] {
        let bytes = vec![0u8; chunk];
        while filler
            .write_all(&bytes)
            .and_then(|()| filler.flush())
            .is_ok()
        {}
    }
    let _ = filler.sync_all();
    path
}

async fn integrity(store: &tessera::store::Store) -> String {
    let tessera::store::Store::Sqlite(pool) = store else {
        unreachable!("a SQLite test")
    };
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .expect("integrity_check runs")
}

#[tokio::test]
async fn a_full_disk_fails_writes_cleanly_and_recovers_when_space_returns() {
    if !running_as_root() {
        assert!(
            !in_ci(),
            "CI=true but the tests do not run as root: no tmpfs"
        );
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let tmpfs = Tmpfs::mount("8m");
    let url = format!("sqlite://{}/tessera.db", tmpfs.path().display());
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.database.url = secrecy::SecretString::from(url.clone());
    })
    .await;
    let oauth = OAuthEndpoints::of(&app);
    let before = app.create_client("acme", json!({})).await;
    let client = Credentials::of(&before);
    let token = oauth.access_token(&client).await;

    // An empty WAL: the next write must take new space.
    let tessera::store::Store::Sqlite(pool) = &app.store else {
        unreachable!("a SQLite test")
    };
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .unwrap();
    let filler = fill(tmpfs.path());

    for attempt in 0..3 {
        let response = app.post_client(&crate::helpers::client_body("acme")).await;
        let status = response.status().as_u16();
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(status, 503, "write {attempt} on a full disk: {body}");
        let text = body.to_string().to_lowercase();
        for detail in ["sqlite", "disk", "full", "database", "tmpfs"] {
            assert!(
                !text.contains(detail),
                "internal detail {detail:?} shown: {body}"
            );
        }
    }
    // Reads go on.
    let (status, _) = app
        .get_json(&format!("/api/v1/oauth-clients/{}", client.id))
        .await;
    assert_eq!(status, 200, "reads are served on a full disk");
    assert!(oauth.is_active(&client, &token).await);
    oauth.access_token(&client).await;
    assert_eq!(integrity(&app.store).await, "ok");

    std::fs::remove_file(&filler).unwrap();
    let created = app.post_client(&crate::helpers::client_body("acme")).await;
    assert_eq!(created.status(), 200, "writes work again without a restart");
    let (status, _) = app
        .get_json(&format!("/api/v1/oauth-clients/{}", client.id))
        .await;
    assert_eq!(
        status, 200,
        "what was written before the disk filled is there"
    );
    assert_eq!(integrity(&app.store).await, "ok");
}
