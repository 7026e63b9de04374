//! A multi-statement simple `Query` sent by psql through pgscope: its statements keep their
//! exact rows and errors and are marked batched (their own latencies were not observed), and
//! the batch's own latency — from the `Query` written upstream to the server's
//! `ReadyForQuery` — is on each of them as `batch_mean_ms`, at least the time the server
//! slept in it.

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, psql_at, wait_for, Cluster, Proxy, ProxyEnv};
use serde_json::Value;

/// The API's row whose normalized text contains `needle`.
fn row<'a>(rows: &'a [Value], needle: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["query"].as_str().unwrap_or_default().contains(needle))
        .unwrap_or_else(|| panic!("no row for {needle:?} in {rows:#?}"))
}

#[test]
fn a_multi_statement_query_records_its_total_on_its_statements() {
    let cluster = Cluster::start();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with_env(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin_addr],
        &ProxyEnv {
            set: &[("PGSCOPE_GROWTH_ENABLED", "false")],
            ..Default::default()
        },
    );
    // One Query message: rows, a 200 ms sleep, then an error that ends the batch.
    let output = psql_at(
        &proxy.url(),
        &[
            "-c",
            "SELECT generate_series(1, 3); SELECT pg_sleep(0.2); SELECT 1 / 0",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("division by zero"), "{stderr}");
    // A statement on its own, for contrast.
    let output = psql_at(&proxy.url(), &["-c", "SELECT 42 AS alone"]);
    assert!(output.status.success());

    let admin = AdminClient::new(&admin_addr, None);
    let rows = || -> Vec<Value> {
        let body = admin.get("/api/v1/fingerprints?limit=1000").unwrap();
        serde_json::from_slice::<Value>(&body).unwrap()["fingerprints"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for("the statements were not all recorded", || {
        let rows = rows();
        ["generate_series", "pg_sleep", "/", "alone"]
            .iter()
            .all(|n| {
                rows.iter()
                    .any(|r| r["query"].as_str().unwrap_or_default().contains(n))
            })
    });
    let rows = rows();
    let (series, sleep, failed) = (
        row(&rows, "generate_series"),
        row(&rows, "pg_sleep"),
        row(&rows, "/"),
    );
    for statement in [series, sleep, failed] {
        assert_eq!(statement["calls"], 1, "{statement:#}");
        assert_eq!(statement["batched_calls"], 1, "{statement:#}");
        // Their own latency was not observed: none is shown.
        assert_eq!(statement["mean_ms"], 0.0, "{statement:#}");
    }
    assert_eq!(series["rows"], 3, "{series:#}");
    assert_eq!(sleep["rows"], 1, "{sleep:#}");
    assert_eq!(failed["error_count"], 1, "{failed:#}");
    assert_eq!(failed["errors"]["22012"], 1, "{failed:#}");
    // The batch's total, the same on each of its statements, holds the server's 200 ms sleep.
    let total = sleep["batch_mean_ms"].as_f64().expect("no batch_mean_ms");
    assert!(total >= 200.0, "batch_mean_ms {total}");
    assert!(total < 10_000.0, "batch_mean_ms {total}");
    assert_eq!(series["batch_mean_ms"], sleep["batch_mean_ms"]);
    assert_eq!(failed["batch_mean_ms"], sleep["batch_mean_ms"]);
    // A statement alone is timed as itself and has no batch.
    let alone = row(&rows, "alone");
    assert_eq!(alone["batched_calls"], 0, "{alone:#}");
    assert!(alone.get("batch_mean_ms").is_none(), "{alone:#}");
}
