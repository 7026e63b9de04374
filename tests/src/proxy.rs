//! [`Proxy`]: the `pgscope` binary as a child process, and building it.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cluster::Cluster;

/// How long [`Proxy::start_with`] waits for the listen port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times a proxy is restarted on a new port when its port turned out to be taken.
const START_ATTEMPTS: u32 = 4;

/// A TCP port on 127.0.0.1 that nothing listens on (see [`pgscope::embedded::free_port`]).
pub fn free_port() -> u16 {
    pgscope::embedded::free_port().unwrap_or_else(|err| panic!("{err}"))
}

/// The `pgscope` binary to test: `$PGSCOPE_BIN` if set, else the one `cargo build -p pgscope
/// --bin pgscope` produces (honouring `CARGO_TARGET_DIR`), built once per test process.
pub fn pgscope_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("PGSCOPE_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => build_pgscope(),
    })
    .clone()
}

/// Builds the `pgscope` binary with cargo and returns the path cargo reports for it.
fn build_pgscope() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    // Cargo sets these for the test process; passed on, they would look like a changed build
    // environment to build scripts that track them (ring's tracks CARGO_MANIFEST_DIR), so every
    // alternation between `cargo test` and this build would recompile the TLS stack.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&*name);
        }
    }
    let output = command
        .current_dir(workspace)
        .args(["build", "-p", "pgscope", "--bin", "pgscope"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|err| panic!("cannot run cargo to build pgscope: {err}"));
    assert!(output.status.success(), "cargo build -p pgscope failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "pgscope")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no pgscope executable")
}

/// Changes to the environment a [`Proxy`] process starts with.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProxyEnv<'a> {
    /// Variables removed first (so the machine's own settings cannot leak in).
    pub remove: &'a [&'a str],
    /// Variables set.
    pub set: &'a [(&'a str, &'a str)],
}

/// A running `pgscope run` process in front of an upstream server. It listens on its own free
/// port on 127.0.0.1 (and its admin server on another); its stdout and stderr go to a log file
/// read by [`Proxy::log`]. Dropping it kills it with SIGKILL and reaps it.
#[derive(Debug)]
pub struct Proxy {
    /// The process.
    child: Child,
    /// The port it listens on for clients.
    port: u16,
    /// Where its stdout and stderr go.
    log_path: PathBuf,
    /// Holds the log file; deleted on drop.
    _dir: TempDir,
}

impl Proxy {
    /// Starts pgscope with `cluster` as its upstream.
    pub fn start(cluster: &Cluster) -> Proxy {
        Proxy::start_with(&format!("postgres://127.0.0.1:{}", cluster.port()), &[])
    }

    /// Starts `pgscope run --listen 127.0.0.1:PORT --upstream UPSTREAM [--admin
    /// 127.0.0.1:PORT2] EXTRA_ARGS…` and waits until the listen port accepts TCP connections.
    /// A `--listen` in `EXTRA_ARGS` replaces the first one; it must hold a TCP address, whose
    /// port is then the proxy's [`Proxy::port`].
    /// `--admin` is added on a free port unless `extra_args` has one, so that parallel proxies
    /// never collide on the default admin port. Panics with the proxy's log if it exits or is
    /// not listening within 20 s.
    pub fn start_with(upstream: &str, extra_args: &[&str]) -> Proxy {
        Proxy::start_with_env(upstream, extra_args, &ProxyEnv::default())
    }

    /// Like [`Proxy::start_with`], with the process environment changed by `env`.
    pub fn start_with_env(upstream: &str, extra_args: &[&str], env: &ProxyEnv<'_>) -> Proxy {
        let bin = pgscope_bin();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut proxy = Proxy::spawn(&bin, upstream, extra_args, env);
            match proxy.wait_ready() {
                Ok(()) => return proxy,
                Err(reason) => {
                    let log = proxy.log();
                    let taken = log.contains("in use") || log.contains("AddrInUse");
                    if !(taken && attempt < START_ATTEMPTS) {
                        panic!(
                            "pgscope run --upstream {upstream} {extra_args:?} {reason}; its log:\n{log}"
                        );
                    }
                }
            }
        }
    }

    /// Spawns the process on a fresh free port.
    fn spawn(bin: &Path, upstream: &str, extra_args: &[&str], env: &ProxyEnv<'_>) -> Proxy {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-proxy-")
            .tempdir()
            .unwrap_or_else(|err| panic!("cannot create a temporary directory: {err}"));
        let log_path = dir.path().join("pgscope.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", log_path.display()));
        let log_too = log
            .try_clone()
            .unwrap_or_else(|err| panic!("cannot duplicate a file handle: {err}"));
        let mut command = Command::new(bin);
        command.arg("run").arg("--upstream").arg(upstream);
        // `--listen` in `extra_args` replaces the free port; its first TCP entry is the port.
        let given = extra_args
            .iter()
            .position(|arg| *arg == "--listen")
            .and_then(|at| extra_args.get(at + 1));
        let port = match given {
            Some(list) => list
                .split(',')
                .find_map(|entry| entry.trim().rsplit_once(':')?.1.parse::<u16>().ok())
                .unwrap_or_else(|| panic!("--listen {list} has no TCP address to wait on")),
            None => {
                let port = free_port();
                command.arg("--listen").arg(format!("127.0.0.1:{port}"));
                port
            }
        };
        if !extra_args.iter().any(|arg| arg.starts_with("--admin")) {
            command
                .arg("--admin")
                .arg(format!("127.0.0.1:{}", free_port()));
        }
        for name in env.remove {
            command.env_remove(name);
        }
        let child = command
            .args(extra_args)
            .envs(env.set.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_too))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", bin.display()));
        Proxy {
            child,
            port,
            log_path,
            _dir: dir,
        }
    }

    /// Polls until the listen port accepts a connection while the process is still running.
    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}) before listening on {addr}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // The port might have been taken by someone else: make sure it is still ours.
                thread::sleep(Duration::from_millis(20));
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!("exited ({status}) right after starting"));
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "is not listening on {addr} after {READY_TIMEOUT:?}"
                ));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The port pgscope listens on for clients.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` through pgscope.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (`kill -TERM PID`), asking for a graceful shutdown.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|err| panic!("cannot run kill: {err}"));
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => return None,
                Err(err) => panic!("waiting for pgscope ({}): {err}", self.pid()),
            }
        }
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        match std::fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => format!("(cannot read {}: {err})", self.log_path.display()),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
