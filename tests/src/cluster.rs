//! [`Cluster`]: a throw-away PostgreSQL cluster for one test.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgscope::embedded::{ClusterOptions, LocalCluster};

use crate::clients::{pg_bin, psql_at};

/// A throw-away PostgreSQL cluster owned by one test: its own temporary directory and free
/// port, the superuser `postgres` trusted on loopback (unless [`ClusterOptions::hba`] says
/// otherwise). Dropping it stops the server and deletes its directory, whether the test passed
/// or panicked.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster itself.
    inner: LocalCluster,
}

impl Cluster {
    /// Starts a default cluster; panics with the reason (and the server's log) if it cannot.
    pub fn start() -> Cluster {
        Cluster::start_with(ClusterOptions::default())
    }

    /// Starts a cluster with the given settings, `pg_hba.conf` or port.
    pub fn start_with(opts: ClusterOptions) -> Cluster {
        match LocalCluster::start(&opts) {
            Ok(inner) => Cluster { inner },
            Err(err) => panic!("cannot start a throw-away PostgreSQL cluster: {err}"),
        }
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.inner.port()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the cluster directly, not through pgscope.
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// The underlying [`LocalCluster`] (data directory, log, binaries).
    pub fn local(&self) -> &LocalCluster {
        &self.inner
    }

    /// The path of the client or server program `name` (`psql`, `pgbench`, …) of this cluster's
    /// PostgreSQL installation.
    pub fn bin(&self, name: &str) -> PathBuf {
        let path = self.inner.bin_dir().join(name);
        if path.is_file() {
            path
        } else {
            pg_bin(name)
        }
    }

    /// Runs `sql` with `psql -X -A -t -v ON_ERROR_STOP=1 -c` as the superuser directly against
    /// the cluster, and returns its output with the trailing newline removed (rows on lines,
    /// columns separated by `|`). Panics with psql's stderr if it fails.
    pub fn psql(&self, sql: &str) -> String {
        let url = self.url();
        let output = psql_at(&url, &["-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "psql -c {sql:?} against {url} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.trim_end_matches('\n').to_owned()
    }

    /// Polls [`Cluster::psql`]`(sql)` every 20 ms until it prints `expected`; panics with the
    /// last output if that has not happened within `timeout`. For waiting on server state,
    /// e.g. a backend appearing in or leaving `pg_stat_activity`.
    pub fn wait_for(&self, sql: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.psql(sql);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after {timeout:?}, {sql:?} still gives {got:?}, not {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
