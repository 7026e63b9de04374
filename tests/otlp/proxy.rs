//! [`TracedProxy`]: `pgscope run` as a child process with a `[tracing]` config file and
//! chosen `OTEL_*` variables (the shared harness's `Proxy` passes no environment).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pgscope_exporters::otel::OTEL_VARIABLES;
use pgscope_tests::{free_port, pgscope_bin, Cluster};
use tempfile::TempDir;

/// How long the proxy may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts on fresh ports when a port turned out to be taken.
const START_ATTEMPTS: u32 = 4;

/// A running `pgscope run` with tracing settings; killed when dropped.
#[derive(Debug)]
pub struct TracedProxy {
    child: Child,
    port: u16,
    admin: u16,
    log_path: PathBuf,
    _dir: TempDir,
}

impl TracedProxy {
    /// Starts pgscope in front of `cluster` with `config` (TOML) as its config file and the
    /// environment `env` added; every `OTEL_*` variable pgscope reads is removed first so
    /// the machine's own settings cannot leak in.
    pub fn start(cluster: &Cluster, config: &str, env: &[(&str, &str)]) -> TracedProxy {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut proxy = TracedProxy::spawn(cluster, config, env);
            match proxy.wait_ready() {
                Ok(()) => return proxy,
                Err(reason) => {
                    let log = proxy.log();
                    let taken = log.contains("in use") || log.contains("AddrInUse");
                    assert!(
                        taken && attempt < START_ATTEMPTS,
                        "pgscope {reason}; its log:\n{log}"
                    );
                }
            }
        }
    }

    fn spawn(cluster: &Cluster, config: &str, env: &[(&str, &str)]) -> TracedProxy {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-otel-")
            .tempdir()
            .expect("temporary directory");
        let config_path = dir.path().join("pgscope.toml");
        std::fs::write(&config_path, config).expect("write the config file");
        let log_path = dir.path().join("pgscope.log");
        let log = File::create(&log_path).expect("create the log file");
        let log_too = log.try_clone().expect("duplicate the log handle");
        let (port, admin) = (free_port(), free_port());
        let mut command = Command::new(pgscope_bin());
        command
            .arg("run")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--upstream",
                &format!("postgres://127.0.0.1:{}", cluster.port()),
            ])
            .args(["--admin", &format!("127.0.0.1:{admin}")])
            .arg("--config")
            .arg(&config_path);
        for name in OTEL_VARIABLES {
            command.env_remove(name);
        }
        let child = command
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_too))
            .spawn()
            .expect("run pgscope");
        TracedProxy {
            child,
            port,
            admin,
            log_path,
            _dir: dir,
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}) before listening on {addr}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
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

    /// `postgres://postgres@127.0.0.1:PORT/postgres` through pgscope.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The body of `GET /metrics` on the admin port.
    pub fn metrics(&self) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.admin))
            .expect("connect to the admin port");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: pgscope\r\nConnection: close\r\n\r\n")
            .expect("send the metrics request");
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .expect("read the metrics reply");
        reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or(reply)
    }

    /// The value of the sample `series` (name with its labels, as written in `/metrics`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for pgscope") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pgscope did not exit in {timeout:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TracedProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
