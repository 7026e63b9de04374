//! psycopg 3 through pgscope: pipeline mode (with a failing statement in a batch), server-side
//! cursors (`itersize`, `fetchmany`, scrolling), binary COPY in both directions, and
//! `sslmode=prefer` connecting in the clear because pgscope answers `N` to `SSLRequest`.
//!
//! The scenarios themselves are Python (`tests/python/psycopg_client.py`); each checks its
//! results and prints `ok {json summary}`. These tests run them with the harness's Python
//! ([`python`]: `$PGSCOPE_TEST_PYTHON`, set by `scripts/test.sh` to a venv with psycopg),
//! check the summary, and read the server's state directly from the cluster. A Python without
//! psycopg 3 fails the tests with a message saying how to get one: they never skip.

use std::path::PathBuf;
use std::process::Command;

use pgscope_tests::{output_within, python, Cluster, Proxy, CLIENT_TIMEOUT};
use serde_json::Value;

/// The scenario script.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/psycopg_client.py")
}

/// Panics with a clear message unless the harness's Python imports psycopg 3.
fn require_psycopg() {
    let python = python();
    let mut command = Command::new(&python);
    command.args(["-c", "import psycopg; print(psycopg.__version__)"]);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success() && version.starts_with('3'),
        "psycopg 3 is not importable by {} (version {version:?}): {}\n\
         run the tests with `bash scripts/test.sh`, which creates a venv with psycopg and sets \
         PGSCOPE_TEST_PYTHON, or point PGSCOPE_TEST_PYTHON at a Python that has psycopg 3",
        python.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Runs `psycopg_client.py SCENARIO ARGS…` and returns its JSON summary; panics with the
/// script's output and the proxy's log if it fails.
fn run_scenario(scenario: &str, args: &[&str], proxy: &Proxy) -> Value {
    require_psycopg();
    let mut command = Command::new(python());
    command.arg(script()).arg(scenario).args(args);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "psycopg scenario {scenario} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nproxy log:\n{}",
        output.status,
        proxy.log()
    );
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("ok "))
        .unwrap_or_else(|| panic!("scenario {scenario} printed no `ok` line:\n{stdout}"));
    serde_json::from_str(summary)
        .unwrap_or_else(|err| panic!("scenario {scenario}: bad summary {summary:?}: {err}"))
}

#[test]
fn pipeline_mode_batches_and_a_failing_statement_behave_as_direct() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let summary = run_scenario("pipeline", &[&proxy.url()], &proxy);
    assert_eq!(summary["sqlstate"], "23505");
    assert_eq!(summary["rows"], 101);
    // The segment before the failure is committed, the failing segment left nothing behind.
    assert_eq!(
        cluster.psql("SELECT count(*), sum(id), min(label), max(label) FROM pipe"),
        "101|6051|kept|row 99"
    );
}

#[test]
fn server_side_cursors_fetch_in_batches_and_scroll() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let summary = run_scenario("cursor", &[&proxy.url()], &proxy);
    assert_eq!(summary["rows"], 5000);
}

#[test]
fn binary_copy_in_and_out_round_trips_rows_and_bytes() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let summary = run_scenario("copy", &[&proxy.url(), &cluster.url()], &proxy);
    assert_eq!(summary["rows"], 3000);
    assert!(
        summary["copy_out_bytes"].as_u64().unwrap_or(0) > 100_000,
        "{summary}"
    );
    assert_eq!(
        cluster.psql(
            "SELECT count(*), sum(id), sum(score), sum(length(data)), count(note) FROM bin_copy"
        ),
        "3000|4498500|5623125|94276|2700"
    );
}

#[test]
fn sslmode_prefer_connects_in_the_clear_and_require_is_refused() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let summary = run_scenario("sslmode", &[&proxy.url()], &proxy);
    assert_eq!(summary["prefer"], "connected");
    assert_eq!(summary["require"], "refused");
}
