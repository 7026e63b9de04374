//! [`TracedProxy`]: the harness's [`Proxy`] with a `[tracing]` config file, chosen `OTEL_*`
//! variables (all others removed) and a known admin port for reading `/metrics`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use pgscope_otel::OTEL_VARIABLES;
use pgscope_tests::{free_port, output_within, pgscope_bin, Cluster, Proxy, ProxyEnv};
use tempfile::TempDir;

/// A running `pgscope run` with tracing settings; killed when dropped.
#[derive(Debug)]
pub struct TracedProxy {
    proxy: Proxy,
    admin: u16,
    /// Holds the config file.
    _dir: TempDir,
}

impl TracedProxy {
    /// Starts pgscope in front of `cluster` with `config` (TOML) as its config file and the
    /// environment `env` added; every `OTEL_*` variable pgscope reads is removed first so
    /// the machine's own settings cannot leak in.
    pub fn start(cluster: &Cluster, config: &str, env: &[(&str, &str)]) -> TracedProxy {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-otel-")
            .tempdir()
            .expect("temporary directory");
        let config_path = dir.path().join("pgscope.toml");
        std::fs::write(&config_path, config).expect("write the config file");
        let admin = free_port();
        let admin_addr = format!("127.0.0.1:{admin}");
        let config_arg = config_path.display().to_string();
        let mut set = env.to_vec();
        set.push(("RUST_LOG", "info"));
        let proxy = Proxy::start_with_env(
            &format!("postgres://127.0.0.1:{}", cluster.port()),
            &["--admin", &admin_addr, "--config", &config_arg],
            &ProxyEnv {
                remove: OTEL_VARIABLES,
                set: &set,
            },
        );
        TracedProxy {
            proxy,
            admin,
            _dir: dir,
        }
    }

    /// Runs `pgscope run` as [`TracedProxy::start`] would, expecting it to refuse to start;
    /// returns its exit status and everything it printed. Panics if it is still running
    /// after 30 seconds.
    pub fn start_failure(
        cluster: &Cluster,
        config: &str,
        env: &[(&str, &str)],
    ) -> (ExitStatus, String) {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-otel-")
            .tempdir()
            .expect("temporary directory");
        let config_path = dir.path().join("pgscope.toml");
        std::fs::write(&config_path, config).expect("write the config file");
        let mut command = Command::new(pgscope_bin());
        command
            .arg("run")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--admin")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--upstream")
            .arg(format!("postgres://127.0.0.1:{}", cluster.port()))
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null());
        for name in OTEL_VARIABLES {
            command.env_remove(name);
        }
        let output = output_within(command.envs(env.iter().copied()), Duration::from_secs(30));
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status, printed)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` through pgscope.
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        self.proxy.log()
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
        self.proxy.terminate();
        match self.proxy.wait_exit(timeout) {
            Some(status) => status,
            None => panic!("pgscope did not exit in {timeout:?}:\n{}", self.log()),
        }
    }
}
