//! `pgscope_tests`: the harness the integration tests in `tests/tests/suite/` share.
//!
//! Every test proves pgscope against the real thing: a throw-away PostgreSQL cluster of its own
//! ([`Cluster`], which wraps [`pgscope::embedded::LocalCluster`] so the proxy's `pgscope run`
//! with no upstream and the tests start clusters the same way), the real `pgscope` binary as a
//! child process in front of it ([`Proxy`]), and real clients (`psql`, `pgbench`, Python's
//! psycopg, tokio-postgres, and headless Chromium for the HTML report) pointed at the proxy.
//!
//! Rules the harness keeps so that tests can run in parallel and never leave anything behind:
//! every cluster and proxy gets its own free port ([`free_port`]) and its own temporary
//! directory; dropping a [`Cluster`] stops the server and deletes its directory, dropping a
//! [`Proxy`] kills and reaps the process; every client run has a deadline, so a hang fails
//! the test with what the client printed instead of stalling the suite. Failures panic with
//! messages that carry the evidence: the client's stderr, the proxy's log.
//!
//! The `pgscope` binary is built once per test process with `cargo build -p pgscope`
//! ([`pgscope_bin`]); set `PGSCOPE_BIN` to test another build. `PGSCOPE_PG_BIN` selects the
//! PostgreSQL binaries, `PGSCOPE_TEST_PYTHON` the Python with psycopg 3 (`scripts/test.sh`
//! sets it to its venv).

mod browser;
mod certs;
mod clients;
mod cluster;
mod daemon;
mod metrics;
mod proxy;
mod tls;

pub use browser::{chromium, rendered_dom};
pub use certs::{crypto_provider, pem_certificates, root_store, Issued, TestCa};
pub use clients::{
    output_within, pg_bin, psql_at, psql_command, python, python_ok, CLIENT_TIMEOUT,
};
pub use cluster::Cluster;
pub use daemon::{command_with_config, run_with_config, wait_for, wait_for_within, write_config};
pub use metrics::metric;
pub use pgscope::embedded::ClusterOptions;
pub use proxy::{free_port, pgscope_bin, Proxy, ProxyEnv};
pub use tls::{TlsCluster, APP_PASSWORD};
