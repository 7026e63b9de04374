//! `pgscope run` with no `--upstream` starts a throw-away PostgreSQL cluster; whatever way the
//! process ends, that cluster must not outlive it. SIGTERM, SIGINT and a start that fails after
//! the cluster was started all stop the server and delete its directory; after SIGKILL, which
//! no process can react to, the next `pgscope run` finds the cluster (its owner is gone), stops
//! its server and deletes it.
//!
//! Each test runs the real binary with `TMPDIR` set to a directory of its own, so its cluster
//! (and only its) is made there, and identifies the cluster's processes by the postmaster's
//! pid and its children, each with its start time (a pid reused later is not mistaken for it).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pgscope::embedded::OWNER_FILE;
use pgscope_tests::{free_port, pgscope_bin};
use tempfile::TempDir;

/// How long a pgscope (and its cluster) gets to come up, or to exit.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A `pgscope run` with no upstream, its log in the test's directory.
struct Embedded {
    child: Child,
    log_path: PathBuf,
    listen: u16,
}

impl Embedded {
    /// Starts `pgscope run --listen 127.0.0.1:FREE --admin ADMIN` with `TMPDIR=tmp`.
    fn spawn(tmp: &Path, name: &str, admin: &str) -> Embedded {
        let listen = free_port();
        let log_path = tmp.join(format!("{name}.log"));
        let log = File::create(&log_path).unwrap();
        let child = Command::new(pgscope_bin())
            .args(["run", "--listen", &format!("127.0.0.1:{listen}")])
            .args(["--admin", admin])
            .env("TMPDIR", tmp)
            .env_remove("PGSCOPE_UPSTREAM")
            .env_remove("PGSCOPE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run pgscope: {err}"));
        Embedded {
            child,
            log_path,
            listen,
        }
    }

    /// Starts one and waits until it proxies; returns it with its cluster's directory.
    fn start(tmp: &Path, name: &str) -> (Embedded, PathBuf) {
        let mut proxy = Embedded::spawn(tmp, name, &format!("127.0.0.1:{}", free_port()));
        let dir = proxy.cluster_dir();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, proxy.listen));
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!(
                    "pgscope exited ({status}) before listening:\n{}",
                    proxy.log()
                );
            }
            assert!(Instant::now() < deadline, "not listening:\n{}", proxy.log());
            thread::sleep(Duration::from_millis(25));
        }
        (proxy, dir)
    }

    /// The cluster directory pgscope reports ("data in DIR/data"), once it has reported it.
    fn cluster_dir(&mut self) -> PathBuf {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.log();
            if let Some(data) = log
                .split_once("(data in ")
                .and_then(|(_, rest)| rest.split_once(", removed on exit)"))
                .map(|(data, _)| PathBuf::from(data))
            {
                return data.parent().unwrap().to_path_buf();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgscope exited ({status}) before starting a cluster:\n{log}");
            }
            assert!(Instant::now() < deadline, "no cluster reported:\n{log}");
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running:\n{}", self.log());
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory for one test's `TMPDIR`, which the `postgres` OS user can traverse (as root,
/// the cluster's directory in it is given to that user).
fn test_tmp() -> TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("pgscope-exits-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// A process as (pid, start time): field 22 of `/proc/PID/stat`.
type Proc = (u32, u64);

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The cluster's postmaster and its children (checkpointer, backends, …), running now.
fn server_processes(cluster_dir: &Path) -> Vec<Proc> {
    let pid_file = cluster_dir.join("data/postmaster.pid");
    let text = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|err| panic!("{}: {err}", pid_file.display()));
    let postmaster: u32 = text.lines().next().unwrap().trim().parse().unwrap();
    let mut procs = vec![(postmaster, start_time(postmaster).expect("postmaster runs"))];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if parent_of(pid) == Some(postmaster) {
            if let Some(start) = start_time(pid) {
                procs.push((pid, start));
            }
        }
    }
    assert!(procs.len() > 1, "the postmaster has no children yet");
    procs
}

/// Those of `procs` still running (same pid and start time), within a short settling time.
fn still_running(procs: &[Proc]) -> Vec<Proc> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<Proc> = procs
            .iter()
            .copied()
            .filter(|&(pid, start)| start_time(pid) == Some(start))
            .collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts the cluster in `dir` is gone: no directory, none of `procs` running.
fn assert_cluster_gone(dir: &Path, procs: &[Proc], log: &str) {
    assert!(!dir.exists(), "{} still exists; log:\n{log}", dir.display());
    let alive = still_running(procs);
    assert!(alive.is_empty(), "still running: {alive:?}; log:\n{log}");
}

/// Runs pgscope until it proxies, sends it `signal`, and checks it exits 0 with no trace of
/// its cluster.
fn signal_removes_the_cluster(signal: &str) {
    let tmp = test_tmp();
    let (mut proxy, dir) = Embedded::start(tmp.path(), "pgscope");
    assert!(dir.join(OWNER_FILE).is_file());
    let procs = server_processes(&dir);
    proxy.signal(signal);
    let status = proxy.wait_exit();
    let log = proxy.log();
    assert!(
        status.success(),
        "exited with {status} after SIG{signal}:\n{log}"
    );
    assert_cluster_gone(&dir, &procs, &log);
}

#[test]
fn sigterm_stops_and_removes_the_embedded_cluster() {
    signal_removes_the_cluster("TERM");
}

#[test]
fn sigint_stops_and_removes_the_embedded_cluster() {
    signal_removes_the_cluster("INT");
}

#[test]
fn a_start_failing_after_the_cluster_started_removes_it() {
    let tmp = test_tmp();
    // The admin address is taken: `run` fails after the cluster is up.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let admin = taken.local_addr().unwrap().to_string();
    let mut proxy = Embedded::spawn(tmp.path(), "pgscope", &admin);
    let dir = proxy.cluster_dir();
    let status = proxy.wait_exit();
    let log = proxy.log();
    assert!(
        !status.success(),
        "pgscope ran with its admin port taken:\n{log}"
    );
    assert!(log.contains("(admin)"), "the error names the key:\n{log}");
    assert!(!dir.exists(), "{} still exists; log:\n{log}", dir.display());
    let leftovers: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pgscope-pg-")
        })
        .collect();
    assert!(leftovers.is_empty(), "clusters left: {leftovers:?}");
}

#[test]
fn after_sigkill_the_next_run_stops_and_removes_the_stale_cluster() {
    let tmp = test_tmp();
    let (mut killed, stale_dir) = Embedded::start(tmp.path(), "killed");
    let stale_procs = server_processes(&stale_dir);
    killed.signal("KILL");
    killed.wait_exit();
    // What SIGKILL leaves: the server runs on, its directory stays.
    assert!(stale_dir.is_dir());
    assert_eq!(still_running(&stale_procs[..1]), stale_procs[..1]);

    let (mut next, fresh_dir) = Embedded::start(tmp.path(), "next");
    assert_ne!(fresh_dir, stale_dir);
    let log = next.log();
    assert!(
        log.contains("no longer runs"),
        "the removal is logged:\n{log}"
    );
    assert_cluster_gone(&stale_dir, &stale_procs, &log);

    let fresh_procs = server_processes(&fresh_dir);
    next.signal("TERM");
    assert!(next.wait_exit().success());
    assert_cluster_gone(&fresh_dir, &fresh_procs, &next.log());
}
