//! Snapshot failures are visible, against the real binary: a full and a read-only state
//! directory (tiny tmpfs mounts — the tests run as root, where permission bits stop nothing)
//! turn `/healthz`'s `recorder.status` to `degraded` with the OS error's own words, count in
//! `pgscope_snapshot_failures_total`, and clear after the next successful snapshot; the
//! snapshot is written mode 0600; a corrupt snapshot at start is moved aside
//! (`….corrupt-TIMESTAMP`), reported, and never overwritten.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, Proxy};
use serde_json::Value;

const SNAPSHOT: &str = "pgscope-snapshot.json";

/// A tmpfs of `size` mounted on a fresh directory; unmounted (lazily, so a test failing with a
/// file open still cleans up) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root): the caller says so and skips.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,ro|rw`.
    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -o remount,{mode} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A proxy (no upstream is contacted) saving to `state_dir` every 100 ms.
struct Scope {
    proxy: Proxy,
    admin: AdminClient,
    _config: tempfile::NamedTempFile,
}

fn start(state_dir: &Path) -> Scope {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[recorder]\nstate_dir = {state_dir:?}\nsnapshot_interval = \"100ms\"\n"),
    )
    .unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let path = config.path().to_string_lossy().into_owned();
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", free_port()),
        &["--admin", &admin, "--config", &path],
    );
    let admin = AdminClient::new(&admin, None);
    for _ in 0..200 {
        if admin.get("/healthz").is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Scope {
        proxy,
        admin,
        _config: config,
    }
}

impl Scope {
    fn healthz(&self) -> Value {
        let body = self
            .admin
            .get("/healthz")
            .unwrap_or_else(|e| panic!("GET /healthz: {e}\nproxy log:\n{}", self.proxy.log()));
        serde_json::from_slice(&body).unwrap()
    }

    /// Waits (up to 10 s) until `/healthz` satisfies `ok`, returning it.
    fn wait_health(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..400 {
            let health = self.healthz();
            if ok(&health) {
                return health;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "/healthz never showed {what}: {}\nproxy log:\n{}",
            self.healthz(),
            self.proxy.log()
        );
    }

    fn failures_metric(&self) -> u64 {
        let text = String::from_utf8(self.admin.get("/metrics").unwrap()).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("pgscope_snapshot_failures_total "))
            .unwrap_or_else(|| panic!("no pgscope_snapshot_failures_total in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Degraded with `os_error`, counted, logged under its own name; then, after `fix`, ok
    /// again with a mode 0600 snapshot.
    fn degrades_then_recovers(&self, state_dir: &Path, os_error: &str, fix: impl FnOnce()) {
        let health = self.wait_health("recorder.status degraded", |h| {
            h["recorder"]["status"] == "degraded"
        });
        let error = health["recorder"]["error"].as_str().unwrap_or_default();
        assert!(error.contains(os_error), "/healthz error: {health}");
        assert!(!error.contains("not a valid pgscope snapshot"), "{health}");
        assert!(self.failures_metric() >= 1);
        let log = self.proxy.log();
        assert!(
            log.contains(os_error),
            "the log does not name {os_error:?}:\n{log}"
        );
        assert!(!log.contains("not a valid pgscope snapshot"), "{log}");

        fix();
        let health = self.wait_health("recorder.status ok", |h| h["recorder"]["status"] == "ok");
        assert!(health["recorder"]["error"].is_null(), "{health}");
        assert!(health["recorder"]["snapshots"]["failures"].as_u64() >= Some(1));
        assert_snapshot_is_private(&state_dir.join(SNAPSHOT));
    }
}

fn assert_snapshot_is_private(path: &PathBuf) {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{} has mode {mode:o}", path.display());
}

#[test]
fn a_full_state_directory_degrades_the_recorder_until_a_snapshot_succeeds() {
    let Some(tmpfs) = Tmpfs::mount("64k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    // Fill it to the last page.
    let filler = tmpfs.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let scope = start(tmpfs.path());
    scope.degrades_then_recovers(tmpfs.path(), "No space left on device", || {
        std::fs::remove_file(&filler).unwrap();
    });
}

#[test]
fn a_read_only_state_directory_degrades_the_recorder_until_a_snapshot_succeeds() {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    tmpfs.remount("ro");
    let scope = start(tmpfs.path());
    scope.degrades_then_recovers(tmpfs.path(), "Read-only file system", || {
        tmpfs.remount("rw");
    });
}

#[test]
fn a_corrupt_snapshot_at_start_is_moved_aside_reported_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = br#"{"version":1,"meta":{"taken_at_ms":1,"since_ms":0,"windows":"#;
    std::fs::write(dir.path().join(SNAPSHOT), truncated).unwrap();
    let scope = start(dir.path());
    let health = scope.healthz();
    let aside = health["recorder"]["snapshots"]["set_aside"]["moved_to"]
        .as_str()
        .unwrap_or_else(|| panic!("no set_aside in {health}\nlog:\n{}", scope.proxy.log()));
    let name = Path::new(aside).file_name().unwrap().to_string_lossy();
    assert!(name.starts_with(&format!("{SNAPSHOT}.corrupt-")), "{name}");
    assert_eq!(std::fs::read(aside).unwrap(), truncated, "moved as it was");
    let log = scope.proxy.log();
    assert!(log.contains("moved it to") && log.contains(aside), "{log}");

    // The next snapshots go to the usual name; the corrupt one keeps its bytes.
    scope.wait_health("recorder.status ok", |h| h["recorder"]["status"] == "ok");
    assert_snapshot_is_private(&dir.path().join(SNAPSHOT));
    assert_eq!(std::fs::read(aside).unwrap(), truncated);
    let health = scope.healthz();
    assert_eq!(
        health["recorder"]["snapshots"]["set_aside"]["moved_to"],
        aside
    );
    assert!(
        scope.failures_metric() >= 1,
        "the unreadable snapshot is counted"
    );
}
