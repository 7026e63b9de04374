//! The growth detector measured against ground truth, under deliberate CPU contention.
//!
//! Two busy-loop processes compete for the cores with PostgreSQL, pgscope and ten workloads
//! while two tables grow 32x (doubling every 4 s after 8 s of baseline; 2 s recorder windows,
//! 1 s catalog sampling; 80 s in all). Ground truth, one query each:
//!
//! - positives: an unindexed lookup on each growing table (scan growth), an indexed query whose
//!   matching rows grow (result growth), a flat query that slows by 100 ms on purpose well after the
//!   tables stopped growing (slower without growth: a regression of its own);
//! - negatives: primary-key lookups on both growing tables, an index-only scan, an indexed range
//!   under `LIMIT`, a lookup dominated by a constant `pg_sleep` on a growing table, and a
//!   CPU-bound scan of a flat table, whose latency is as noisy as the contention makes it and
//!   rises as the growing scans take more of the two cores (the server getting busier is not a
//!   slowdown of its own).
//!
//! Every second the report is read; a query counts as flagged if it was ever in `flags`.
//! Precision = flagged positives / flagged; recall = positives flagged at the end / positives;
//! class accuracy = flagged positives whose every class was the expected one; windows-to-flag =
//! (first scan-growth flag − the table passing 1.5×) / window width. The figures are printed
//! (`cargo test -p pgscope-tests --test suite growth_scenario -- --ignored --nocapture`; with
//! `PGSCOPE_TEST_GROWTH_DUMP=file.json` the windows, the sizes and every round's report are
//! written there) and must meet precision ≥ 0.95, recall ≥ 0.9 and class accuracy 1.
//! Windows-to-flag is a figure for benches/README.md (it depends on how busy the machine is);
//! the test only requires each scan to be flagged within 10 windows, about when its table
//! stops growing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, Cluster, Proxy};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

const WINDOW: Duration = Duration::from_secs(2);
/// How long the workloads run.
const RUN: Duration = Duration::from_secs(80);
/// When the slowed-on-purpose query slows, seconds into the run.
const SLOWED_AT_S: f64 = 44.0;

/// One query of the scenario: its text, its expected class (`None`: must never be flagged),
/// the pause between calls and its argument per call.
struct Case {
    sql: &'static str,
    /// The start of its normalized text as pgscope records it.
    key: &'static str,
    expected: Option<&'static str>,
    pause_ms: u64,
    arg: fn(u64, f64) -> Box<dyn ToSql + Sync + Send>,
}

fn int(v: i64) -> Box<dyn ToSql + Sync + Send> {
    Box::new(v as i32)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            sql: "SELECT id FROM big WHERE k = $1",
            key: "select id from big where k",
            expected: Some("scan_growth"),
            pause_ms: 100,
            arg: |i, _| int((i % 5000) as i64 * 7 + 7),
        },
        Case {
            sql: "SELECT count(*) FROM orders WHERE note = $1",
            key: "select count(*) from orders where note",
            expected: Some("scan_growth"),
            pause_ms: 100,
            arg: |i, _| Box::new(format!("n{}", i % 50)),
        },
        Case {
            sql: "SELECT id FROM big WHERE g = $1",
            key: "select id from big where g",
            expected: Some("result_growth"),
            pause_ms: 100,
            arg: |i, _| int((i % 100) as i64),
        },
        Case {
            sql: "SELECT pg_sleep($1), count(*) FROM calm",
            key: "select pg_sleep($1), count(*) from calm",
            expected: Some("slower_without_growth"),
            pause_ms: 50,
            // 1 ms, then 100 ms from well after the tables stopped growing: a regression of its
            // own (a lock wait, say), at the load the grown scans keep the server at.
            arg: |_, elapsed| Box::new(if elapsed < SLOWED_AT_S { 0.001 } else { 0.1 }),
        },
        Case {
            sql: "SELECT k FROM big WHERE id = $1",
            key: "select k from big where id",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 5000) as i64 + 1),
        },
        Case {
            sql: "SELECT note FROM orders WHERE id = $1",
            key: "select note from orders where id",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 5000) as i64 + 1),
        },
        Case {
            sql: "SELECT id FROM big WHERE id = $1",
            key: "select id from big where id =",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 5000) as i64 + 1),
        },
        Case {
            sql: "SELECT id, k FROM big WHERE id > $1 ORDER BY id LIMIT 5",
            key: "select id, k from big where id >",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 5000) as i64),
        },
        Case {
            sql: "SELECT pg_sleep(0.02), k FROM orders WHERE id = $1",
            key: "select pg_sleep($1), k from orders",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 5000) as i64 + 1),
        },
        Case {
            sql: "SELECT count(*) FROM steady WHERE v > $1",
            key: "select count(*) from steady",
            expected: None,
            pause_ms: 20,
            arg: |i, _| int((i % 10) as i64),
        },
    ]
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A process spinning on a core, killed when dropped (also when the test panics).
struct BusyLoop(Child);

impl BusyLoop {
    fn start() -> BusyLoop {
        BusyLoop(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("busy loop"),
        )
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn growth(admin: &AdminClient) -> Value {
    serde_json::from_slice(&admin.get("/api/v1/growth").unwrap()).unwrap()
}

/// Whether `flag` is of the query whose normalized text starts with `key`.
fn matches(flag: &Value, key: &str) -> bool {
    flag["query"].as_str().is_some_and(|q| q.starts_with(key))
}

// Kept out of the parallel run (its busy loops would starve the tests beside it: the latency
// oracle then saw pipelined completions coalesce); `scripts/test.sh` runs it alone after the
// suite, which is how CI runs it: `cargo test -p pgscope-tests --test suite -- --ignored --exact
// --test-threads 1 --nocapture growth_scenario::flags_meet_precision_and_recall_targets_under_cpu_contention`.
#[ignore = "busy loops on purpose: run alone, after the suite, by scripts/test.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_meet_precision_and_recall_targets_under_cpu_contention() {
    let cluster = Cluster::start();
    cluster.psql("ALTER SYSTEM SET max_parallel_workers_per_gather = 0");
    cluster.psql("SELECT pg_reload_conf()");
    cluster.psql(
        "CREATE TABLE big (id int PRIMARY KEY, k int, g int, pad text); \
         CREATE INDEX big_g ON big (g); \
         INSERT INTO big SELECT i, i * 7, i % 100, 'x' FROM generate_series(1, 10000) i; \
         CREATE TABLE orders (id int PRIMARY KEY, note text, k int); \
         INSERT INTO orders SELECT i, 'n' || (i % 5000), i FROM generate_series(1, 10000) i; \
         CREATE TABLE calm (id int); INSERT INTO calm SELECT generate_series(1, 10); \
         CREATE TABLE steady (v int); INSERT INTO steady SELECT i % 10 FROM generate_series(1, 20000) i; \
         ANALYZE calm; ANALYZE steady;",
    );
    // Index-only scans need the visibility map (VACUUM runs outside a transaction block).
    cluster.psql("VACUUM ANALYZE big");
    cluster.psql("VACUUM ANALYZE orders");
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[recorder]\nwindow = \"2s\"\nwindows = 60\n[growth]\ninterval = \"1s\"\n",
    )
    .unwrap();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &[
            "--admin",
            &admin_addr,
            "--config",
            &config.path().to_string_lossy(),
        ],
    );
    let admin = AdminClient::new(&admin_addr, None);
    let url = format!("{}?application_name=growth_scenario", proxy.url());
    let busy = vec![BusyLoop::start(), BusyLoop::start()];

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let cases = cases();
    let mut tasks = Vec::new();
    for case in &cases {
        let client = connect(&url).await;
        let stop = stop.clone();
        let (sql, pause, arg) = (case.sql, Duration::from_millis(case.pause_ms), case.arg);
        tasks.push(tokio::spawn(async move {
            let statement = client.prepare(sql).await.unwrap();
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let value = arg(calls, started.elapsed().as_secs_f64());
                client.query(&statement, &[value.as_ref()]).await.unwrap();
                calls += 1;
                tokio::time::sleep(pause).await;
            }
            calls
        }));
    }

    // Observe every second while the tables grow; the growth runs on its own task.
    let grower = {
        let direct = cluster.url();
        tokio::spawn(async move {
            let client = connect(&direct).await;
            tokio::time::sleep(4 * WINDOW).await;
            let mut passed = None;
            let mut rows = 10_000u64;
            for _ in 0..5 {
                let target = rows * 2;
                client
                    .batch_execute(&format!(
                        "INSERT INTO big SELECT i, i * 7, i % 100, 'x' \
                         FROM generate_series({from}, {target}) i; \
                         INSERT INTO orders SELECT i, 'n' || (i % 5000), i \
                         FROM generate_series({from}, {target}) i; ANALYZE big; ANALYZE orders;",
                        from = rows + 1
                    ))
                    .await
                    .unwrap();
                passed.get_or_insert_with(Instant::now);
                rows = target;
                tokio::time::sleep(2 * WINDOW).await;
            }
            passed.unwrap()
        })
    };
    // The tables' sizes every 250 ms, for the dump (see the module's doc).
    let sizer = {
        let direct = cluster.url();
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = connect(&direct).await;
            let mut log = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let row = client
                    .query_one(
                        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8, \
                         pg_relation_size('big')::float8, pg_relation_size('orders')::float8",
                        &[],
                    )
                    .await
                    .unwrap();
                let at_big_orders: [f64; 3] = [row.get(0), row.get(1), row.get(2)];
                log.push(at_big_orders);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            log
        })
    };
    let mut rounds_log = Vec::new();
    // Per query: when the monitor first flagged it (ms since the epoch) and every class seen.
    let mut seen: BTreeMap<&str, (u64, BTreeSet<String>)> = BTreeMap::new();
    let deadline = started + RUN;
    let mut report = growth(&admin);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        report = growth(&admin);
        for case in &cases {
            let flags = report["flags"].as_array().unwrap();
            for flag in flags.iter().filter(|f| matches(f, case.key)) {
                let at = flag["first_flagged_ms"].as_u64().unwrap();
                let entry = seen.entry(case.sql).or_insert((at, BTreeSet::new()));
                entry.0 = entry.0.min(at);
                entry.1.insert(flag["class"].as_str().unwrap().to_owned());
            }
        }
        rounds_log.push(report.clone());
    }
    let passed = grower.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let sizes = sizer.await.unwrap();
    let epoch_ms = |at: Instant| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.unwrap().as_millis() as f64 - at.elapsed().as_secs_f64() * 1000.0
    };
    let passed_ms = epoch_ms(passed);
    if let Ok(path) = std::env::var("PGSCOPE_TEST_GROWTH_DUMP") {
        let view =
            |path: &str| -> Value { serde_json::from_slice(&admin.get(path).unwrap()).unwrap() };
        let dump = serde_json::json!({
            "passed_ms": passed_ms,
            "started_ms": epoch_ms(started),
            "sizes": sizes,
            "rounds": rounds_log,
            "series": view("/api/v1/series?group=database"),
            "fingerprints": view("/api/v1/fingerprints?limit=100"),
        });
        std::fs::write(path, serde_json::to_vec(&dump).unwrap()).unwrap();
    }
    for task in tasks {
        assert!(task.await.unwrap() > 10);
    }
    drop(busy);

    let brief: Vec<String> = ["flags", "observations"]
        .iter()
        .flat_map(|list| report[*list].as_array().cloned().unwrap_or_default())
        .map(|f| format!("[{}] {}: {}", f["class"], f["query"], f["explanation"]))
        .collect();
    let context = format!(
        "seen {seen:?}\nfinal flags and observations:\n{}\nproxy log:\n{}",
        brief.join("\n"),
        proxy.log()
    );
    let positives: Vec<&Case> = cases.iter().filter(|c| c.expected.is_some()).collect();
    let flagged_positives = positives
        .iter()
        .filter(|c| seen.contains_key(c.sql))
        .count();
    let precision = if seen.is_empty() {
        1.0
    } else {
        flagged_positives as f64 / seen.len() as f64
    };
    let recalled = positives
        .iter()
        .filter(|c| {
            report["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| matches(f, c.key))
        })
        .count();
    let recall = recalled as f64 / positives.len() as f64;
    let right_class = positives
        .iter()
        .filter(|c| {
            seen.get(c.sql)
                .is_some_and(|(_, classes)| classes.iter().all(|k| Some(k.as_str()) == c.expected))
        })
        .count();
    let class_accuracy = right_class as f64 / flagged_positives.max(1) as f64;
    let windows_to_flag: Vec<f64> = positives
        .iter()
        .filter(|c| c.expected == Some("scan_growth"))
        .map(|c| {
            seen.get(c.sql).map_or(f64::INFINITY, |(at, _)| {
                (*at as f64 - passed_ms) / WINDOW.as_millis() as f64
            })
        })
        .collect();
    let observations = report["observations"].as_array().map_or(0, Vec::len);
    eprintln!(
        "growth scenario (2 busy loops, {} queries, {} positives): precision {precision:.2}, \
         recall {recall:.2}, class accuracy {class_accuracy:.2}, windows to flag (scan growth) \
         {windows_to_flag:.1?}, observations {observations}",
        cases.len(),
        positives.len()
    );
    assert!(precision >= 0.95, "precision {precision}\n{context}");
    assert!(recall >= 0.9, "recall {recall}\n{context}");
    assert_eq!(class_accuracy, 1.0, "{context}");
    // The target is 3 windows, a benchmark figure (benches/README.md); this bound only
    // catches a detector that waits for the growth to end.
    for w in &windows_to_flag {
        assert!(*w <= 10.0, "windows to flag {windows_to_flag:?}\n{context}");
    }
}
