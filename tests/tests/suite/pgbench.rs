//! pgbench through pgscope: `-i` (which loads its data with COPY), then short runs in each
//! query mode (simple, extended, prepared), a `\startpipeline` script and `-C` (a new
//! connection per transaction). After every run the TPC-B invariants are checked directly on
//! the cluster: the money added to accounts, tellers and branches equals the deltas in
//! history, so no statement was lost, duplicated or misrouted on the way.

use std::path::Path;
use std::time::Duration;

use pgscope_tests::{output_within, Cluster, Proxy};

/// Transactions per client in each run.
const TRANSACTIONS: &str = "150";
/// Clients (and threads) in each run.
const CLIENTS: &str = "3";

/// The built-in TPC-B-like transaction, written with an explicit pipeline.
const PIPELINE_SCRIPT: &str = r"\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
\startpipeline
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
\endpipeline
";

/// Runs pgbench with `args` against `url`, panicking with its output (and the proxy's log)
/// if it fails. Returns its stdout.
fn pgbench(cluster: &Cluster, url: &str, args: &[&str], proxy: Option<&Proxy>) -> String {
    let mut command = std::process::Command::new(cluster.bin("pgbench"));
    command
        .args(args)
        .arg(url)
        .stdin(std::process::Stdio::null());
    let output = output_within(&mut command, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "pgbench {args:?} failed ({}):\n{stdout}\n{}\nproxy log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        proxy.map(Proxy::log).unwrap_or_default()
    );
    stdout
}

/// Initialises the pgbench tables at scale 1 through `proxy`.
fn init(cluster: &Cluster, proxy: &Proxy) {
    pgbench(cluster, &proxy.url(), &["-i", "-s", "1", "-q"], Some(proxy));
    assert_eq!(
        cluster.psql("SELECT count(*) FROM pgbench_accounts"),
        "100000"
    );
    assert_consistent(cluster, 0);
}

/// Runs a short benchmark through `proxy` with the extra `args`, checks that every transaction
/// was processed, then checks the invariants directly on the cluster.
fn run_and_check(cluster: &Cluster, proxy: &Proxy, args: &[&str]) {
    let before = history_rows(cluster);
    let mut all = vec!["-n", "-c", CLIENTS, "-j", CLIENTS, "-t", TRANSACTIONS];
    all.extend_from_slice(args);
    let report = pgbench(cluster, &proxy.url(), &all, Some(proxy));
    let expected: u64 = CLIENTS.parse::<u64>().unwrap() * TRANSACTIONS.parse::<u64>().unwrap();
    assert!(
        report.contains(&format!(
            "number of transactions actually processed: {expected}/{expected}"
        )),
        "{report}"
    );
    assert!(
        report.contains("number of failed transactions: 0"),
        "{report}"
    );
    assert_consistent(cluster, before + expected);
}

/// The number of rows in pgbench_history.
fn history_rows(cluster: &Cluster) -> u64 {
    cluster
        .psql("SELECT count(*) FROM pgbench_history")
        .parse()
        .unwrap()
}

/// The TPC-B invariants, checked directly on the cluster: every balance total equals the sum
/// of the history deltas, and history has exactly `history` rows.
fn assert_consistent(cluster: &Cluster, history: u64) {
    let sums = cluster.psql(
        "SELECT (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts), \
                (SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers), \
                (SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches), \
                (SELECT coalesce(sum(delta), 0) FROM pgbench_history), \
                (SELECT count(*) FROM pgbench_history)",
    );
    let values: Vec<&str> = sums.split('|').collect();
    assert_eq!(values.len(), 5, "{sums}");
    let (accounts, tellers, branches, deltas) = (values[0], values[1], values[2], values[3]);
    assert_eq!(accounts, deltas, "accounts vs history: {sums}");
    assert_eq!(tellers, deltas, "tellers vs history: {sums}");
    assert_eq!(branches, deltas, "branches vs history: {sums}");
    assert_eq!(values[4], history.to_string(), "history rows: {sums}");
}

#[test]
fn pgbench_init_and_simple_protocol_stay_consistent() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    init(&cluster, &proxy);
    run_and_check(&cluster, &proxy, &["-M", "simple"]);
    // The same check holds for a run straight at the cluster: the control.
    let before = history_rows(&cluster);
    pgbench(
        &cluster,
        &cluster.url(),
        &["-n", "-t", "50", "-M", "simple"],
        None,
    );
    assert_consistent(&cluster, before + 50);
}

#[test]
fn pgbench_extended_protocol_stays_consistent() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    init(&cluster, &proxy);
    run_and_check(&cluster, &proxy, &["-M", "extended"]);
}

#[test]
fn pgbench_prepared_statements_stay_consistent() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    init(&cluster, &proxy);
    run_and_check(&cluster, &proxy, &["-M", "prepared"]);
}

#[test]
fn pgbench_pipeline_script_stays_consistent() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    init(&cluster, &proxy);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pipeline.sql");
    std::fs::write(&script, PIPELINE_SCRIPT).unwrap();
    let file = script_arg(&script);
    run_and_check(&cluster, &proxy, &["-M", "extended", "-f", &file]);
    run_and_check(&cluster, &proxy, &["-M", "prepared", "-f", &file]);
}

#[test]
fn pgbench_new_connection_per_transaction_stays_consistent() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    init(&cluster, &proxy);
    run_and_check(&cluster, &proxy, &["-C", "-M", "simple"]);
    run_and_check(&cluster, &proxy, &["-C", "-M", "prepared"]);
}

/// `path` as a pgbench argument.
fn script_arg(path: &Path) -> String {
    path.to_str().expect("temporary paths are UTF-8").to_owned()
}
