//! Latency you can trust in pipelines: with `pipeline_timing = "exact"` (the default) a
//! statement queued in a pipeline ahead of a slow one is timed as itself, not as the slow one;
//! with `"batch"` PostgreSQL's buffering shows (the server sends the pipeline's results in one
//! burst at the Sync), which is why `exact` is the default.

use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, python_ok, Cluster, Proxy};
use serde_json::Value;

/// Runs a psycopg pipeline through `proxy`: a quick SELECT, `pg_sleep(0.4)`, an UPDATE, all
/// before one Sync.
fn pipeline(port: u16) {
    let code = format!(
        "import psycopg\n\
         with psycopg.connect('host=127.0.0.1 port={port} user=postgres dbname=postgres \
         sslmode=disable') as conn:\n    \
         conn.execute('CREATE TEMP TABLE t (id int, v int)')\n    \
         conn.execute('INSERT INTO t SELECT g, g FROM generate_series(1, 5) g')\n    \
         for _ in range(3):\n        \
         with conn.pipeline():\n            \
         cur = conn.cursor()\n            \
         cur.execute('SELECT v FROM t WHERE id = %s', (1,))\n            \
         cur.execute('SELECT pg_sleep(%s)', (0.4,))\n            \
         cur.execute('UPDATE t SET v = %s WHERE id = %s', (2, 2))\n"
    );
    python_ok(&code, "");
}

/// The max latency (ms) recorded for the fingerprint whose query starts with `start`.
fn max_ms(admin: &AdminClient, start: &str) -> f64 {
    for _ in 0..200 {
        let body = admin.get("/api/v1/fingerprints?limit=1000").unwrap();
        let list: Value = serde_json::from_slice(&body).unwrap();
        let row = list["fingerprints"]
            .as_array()
            .and_then(|rows| {
                rows.iter()
                    .find(|r| r["query"].as_str().is_some_and(|q| q.starts_with(start)))
            })
            .cloned();
        if let Some(row) = row.filter(|r| r["calls"] == 3) {
            return row["max_ms"].as_f64().unwrap_or_else(|| panic!("{row}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no fingerprint starting {start:?} with 3 calls");
}

fn run(timing: &str) -> (f64, f64, f64) {
    let cluster = Cluster::start();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin_addr, "--pipeline-timing", timing],
    );
    pipeline(proxy.port());
    let admin = AdminClient::new(&admin_addr, None);
    (
        max_ms(&admin, "select v from t"),
        max_ms(&admin, "select pg_sleep"),
        max_ms(&admin, "update t"),
    )
}

#[test]
fn exact_timing_times_each_pipelined_statement_as_itself() {
    let (select, sleep, update) = run("exact");
    assert!(sleep >= 400.0, "pg_sleep(0.4) recorded at {sleep} ms");
    // Queued ahead of the sleep, the SELECT finished at once; behind it, the UPDATE is timed
    // from the sleep's completion.
    assert!(
        select < 200.0,
        "the SELECT ahead of the sleep recorded at {select} ms"
    );
    assert!(
        update < 200.0,
        "the UPDATE behind the sleep recorded at {update} ms"
    );
}

#[test]
fn batch_timing_shows_the_servers_buffering() {
    let (select, sleep, _) = run("batch");
    // Without the Flushes the SELECT's result waits in the server's buffer for the Sync,
    // behind the sleep: the misattribution `exact` exists to avoid.
    assert!(select >= 400.0, "the SELECT recorded at {select} ms");
    assert!(sleep < 200.0, "the sleep recorded at {sleep} ms");
}
