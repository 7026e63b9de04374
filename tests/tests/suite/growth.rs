//! Growth detection end to end: a table grows from 10k to ~1M rows in steps while a workload
//! runs through pgscope (2 s recorder windows, 1 s catalog sampling). Read back from
//! `/api/v1/growth`:
//!
//! - a lookup on an unindexed column is scan growth, elasticity near 1, a Seq Scan in its plan;
//! - a primary-key lookup on the same table is not flagged;
//! - an indexed query whose matching rows grow with the table is result growth;
//! - a query on a flat table slowed on purpose (a `pg_sleep` growing per call) is slower
//!   without growth, not growth;
//! - the monitor's connection terminated by `pg_terminate_backend` comes back by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, output_within, pgscope_bin, rendered_dom, Cluster, Proxy};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

const SCAN: &str = "SELECT id FROM grow WHERE k = $1";
const PK: &str = "SELECT k FROM grow WHERE id = $1";
const RESULT: &str = "SELECT id FROM grow WHERE g = $1";
const SLOWED: &str = "SELECT pg_sleep($1), count(*) FROM flat";

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Runs `sql` with an argument from `arg` in a loop, pausing `pause` between calls, until
/// `stop`.
fn workload(
    client: Client,
    sql: &'static str,
    pause: Duration,
    stop: Arc<AtomicBool>,
    arg: impl Fn(u64) -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> + Send + 'static,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let statement = client.prepare(sql).await.unwrap();
        let mut calls = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let value = arg(calls);
            client.query(&statement, &[value.as_ref()]).await.unwrap();
            calls += 1;
            tokio::time::sleep(pause).await;
        }
        calls
    })
}

fn growth(admin: &AdminClient) -> Value {
    serde_json::from_slice(&admin.get("/api/v1/growth").unwrap()).unwrap()
}

fn flag_of<'a>(report: &'a Value, query_start: &str) -> Option<&'a Value> {
    report["flags"].as_array()?.iter().find(|f| {
        f["query"]
            .as_str()
            .is_some_and(|q| q.starts_with(query_start))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_classified_by_how_their_latency_relates_to_table_growth() {
    let cluster = Cluster::start();
    // Serial plans: parallel workers would make scan latency depend on the free cores.
    cluster.psql("ALTER SYSTEM SET max_parallel_workers_per_gather = 0");
    cluster.psql("SELECT pg_reload_conf()");
    cluster.psql(
        "CREATE TABLE grow (id int PRIMARY KEY, k int, g int, pad text); \
         CREATE INDEX grow_g ON grow (g); \
         INSERT INTO grow SELECT i, i * 7, i % 100, 'x' FROM generate_series(1, 10000) i; \
         CREATE TABLE flat (id int); INSERT INTO flat SELECT generate_series(1, 10); \
         ANALYZE grow; ANALYZE flat;",
    );
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
    let url = format!("{}?application_name=growth_test", proxy.url());

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks = vec![
        workload(
            connect(&url).await,
            SCAN,
            Duration::from_millis(80),
            stop.clone(),
            |i| Box::new(((i % 5000) as i32 + 1) * 7),
        ),
        workload(
            connect(&url).await,
            PK,
            Duration::from_millis(40),
            stop.clone(),
            |i| Box::new((i % 5000) as i32 + 1),
        ),
        workload(
            connect(&url).await,
            RESULT,
            Duration::from_millis(80),
            stop.clone(),
            |i| Box::new((i % 100) as i32),
        ),
        workload(
            connect(&url).await,
            SLOWED,
            Duration::from_millis(40),
            stop.clone(),
            // 1 ms growing by 1 ms per second of test: several times slower at the end.
            move |_| Box::new(0.001 + started.elapsed().as_secs_f64() * 0.001),
        ),
    ];

    // Grow 10k → ~1M rows, about doubling per step, each step held for two windows.
    let mut rows = 10_000u64;
    for target in [
        20_000u64, 40_000, 80_000, 160_000, 320_000, 640_000, 1_000_000,
    ] {
        tokio::time::sleep(Duration::from_secs(4)).await;
        cluster.psql(&format!(
            "INSERT INTO grow SELECT i, i * 7, i % 100, 'x' \
             FROM generate_series({}, {target}) i; ANALYZE grow;",
            rows + 1
        ));
        rows = target;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Flags settle once the last windows are complete and sampled.
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let report = growth(&admin);
        let ready = [
            "select id from grow where k",
            "select id from grow where g",
            "select pg_sleep",
        ]
        .iter()
        .all(|q| flag_of(&report, q).is_some());
        if ready || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        assert!(task.await.unwrap() > 10);
    }
    let pretty = serde_json::to_string_pretty(&report["flags"]).unwrap();
    let context = format!(
        "growth report flags:\n{pretty}\nproxy log:\n{}",
        proxy.log()
    );

    let scan = flag_of(&report, "select id from grow where k")
        .unwrap_or_else(|| panic!("the unindexed lookup was not flagged\n{context}"));
    assert_eq!(scan["class"], "scan_growth", "{context}");
    assert_eq!(scan["table"], "grow", "{context}");
    let elasticity = scan["p50_elasticity"]["value"].as_f64().unwrap();
    assert!(
        (0.6..=1.4).contains(&elasticity),
        "elasticity {elasticity}\n{context}"
    );
    assert!(scan["growth"].as_f64().unwrap() > 10.0, "{context}");
    assert_eq!(scan["plan"]["seq_scan"], true, "{context}");
    assert_eq!(
        scan["plan"]["nodes"][0]["node_type"], "Seq Scan",
        "{context}"
    );
    let forecast = &scan["forecast"];
    assert!(
        forecast["p95_at_10x_ms"].as_f64() > forecast["p95_at_2x_ms"].as_f64(),
        "{context}"
    );
    assert!(!scan["tables"][0]["sizes"].as_array().unwrap().is_empty());

    assert!(
        flag_of(&report, "select k from grow where id").is_none(),
        "the primary-key lookup was flagged\n{context}"
    );

    let result = flag_of(&report, "select id from grow where g")
        .unwrap_or_else(|| panic!("the growing result was not flagged\n{context}"));
    assert_eq!(result["class"], "result_growth", "{context}");
    assert!(result["rows_elasticity"]["value"].as_f64().unwrap() > 0.7);

    let slowed = flag_of(&report, "select pg_sleep")
        .unwrap_or_else(|| panic!("the slowed query was not flagged\n{context}"));
    assert_eq!(slowed["class"], "slower_without_growth", "{context}");
    assert!(slowed["table"].is_null(), "{context}");

    // The flagged elasticity is exported as a gauge.
    let metrics = String::from_utf8(admin.get("/metrics").unwrap()).unwrap();
    assert!(
        metrics.contains("class=\"scan_growth\",table=\"grow\"}"),
        "{metrics}"
    );

    // `pgscope report` puts the section first, in text and in HTML as a browser shows it:
    // each growth flag with its latency-vs-size chart (two lines, p95 and p50).
    let output = output_within(
        std::process::Command::new(pgscope_bin()).args(["report", "--admin", &admin_addr]),
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let section = text.find("Degrading hot paths").expect("no growth section");
    assert!(section < text.find("Profile").unwrap(), "{text}");
    assert!(text.contains("[scan_growth]"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let output = output_within(
        std::process::Command::new(pgscope_bin()).args([
            "report",
            "--admin",
            &admin_addr,
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
        ]),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{output:?}");
    let dom = rendered_dom(&page);
    let section = dom.find("id=\"growth\"").expect("no growth section");
    assert!(section < dom.find("Profile").unwrap(), "{dom}");
    let html_section = &dom[section..dom.find("Profile").unwrap()];
    let charts = html_section
        .matches("aria-label=\"latency vs table size\"")
        .count();
    // The scan-growth and result-growth flags are charted against their table's size; the
    // slowed query has no growing table to plot against.
    assert!(
        charts >= 2,
        "a chart per growth flag, got {charts}:\n{html_section}"
    );
    assert_eq!(
        html_section.matches("<polyline").count(),
        2 * charts,
        "{html_section}"
    );
    assert!(
        html_section.contains("scan_growth") && html_section.contains("Seq Scan"),
        "{html_section}"
    );

    // Kill the monitor's connection: it reconnects on its own at the next round.
    let old_pid = cluster
        .psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgscope-growth' LIMIT 1");
    assert!(!old_pid.is_empty(), "no monitor connection\n{context}");
    let terminated = cluster.psql(
        "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'pgscope-growth'",
    );
    assert_eq!(terminated, "t");
    let rounds_before = growth(&admin)["rounds"].as_u64().unwrap();
    // New traffic keeps the tables referenced in the recent windows.
    let client = connect(&url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        client.query(PK, &[&1i32]).await.unwrap();
        let pid = cluster.psql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgscope-growth' LIMIT 1",
        );
        let report = growth(&admin);
        let ok = report["databases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["ok"] == true);
        if !pid.is_empty()
            && pid != old_pid
            && ok
            && report["rounds"].as_u64() > Some(rounds_before)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the monitor did not reconnect\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let health: Value = serde_json::from_slice(&admin.get("/healthz").unwrap()).unwrap();
    assert_eq!(health["growth"]["status"], "ok", "{health}");
}

/// The monitor reads sizes and scan counts through per-OID functions instead of the
/// `pg_stat_all_tables` view (which costs a pass over every relation): both must agree, for a
/// plain name, a qualified one, a table with two indexes and one without, a view and a name that
/// resolves to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_sizes_agree_with_pg_stat_all_tables() {
    use pgscope::growth::catalog::{connect_config, Catalog, Target};

    let cluster = Cluster::start();
    cluster.psql(
        "CREATE TABLE two (id int PRIMARY KEY, k int); CREATE INDEX two_k ON two (k); \
         INSERT INTO two SELECT i, i FROM generate_series(1, 5000) i; \
         CREATE TABLE bare (v text); INSERT INTO bare SELECT 'x' FROM generate_series(1, 300); \
         CREATE VIEW seen AS SELECT 1 AS one; ANALYZE two; ANALYZE bare;",
    );
    // Scans of each kind, flushed to the shared statistics when their sessions end.
    cluster.psql(
        "SET enable_seqscan = off; SELECT k FROM two WHERE id = 3; SELECT id FROM two WHERE k = 4; \
         SELECT id FROM two WHERE k = 5; RESET enable_seqscan; SELECT count(*) FROM bare;",
    );
    let config = connect_config(
        &pgscope_config::GrowthConfig::default(),
        &Target::plain("127.0.0.1", cluster.port()),
        "postgres",
    )
    .unwrap();
    let catalog = Catalog::connect(&config, Duration::from_secs(10), None)
        .await
        .unwrap();
    let names: Vec<String> = ["two", "public.bare", "seen", "missing"]
        .map(String::from)
        .to_vec();
    let expected = |table: &str| -> Vec<u64> {
        cluster
            .psql(&format!(
                "SELECT pg_relation_size(relid), n_live_tup, seq_scan, coalesce(idx_scan, 0) \
                 FROM pg_stat_all_tables WHERE relid = '{table}'::regclass"
            ))
            .split('|')
            .map(|v| v.trim().parse().unwrap())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let sizes = loop {
        let sizes = catalog.sizes(&names).await.unwrap();
        // Statistics reach shared memory asynchronously: wait until the scans are visible.
        if sizes[0].index_scans >= 3 || Instant::now() > deadline {
            break sizes;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sizes.len(), 4);
    for (size, table) in sizes.iter().zip(["two", "bare"]) {
        let got = vec![
            size.bytes,
            size.live_tuples,
            size.seq_scans,
            size.index_scans,
        ];
        assert_eq!(got, expected(table), "{size:?}");
        assert!(size.bytes > 0, "{size:?}");
    }
    assert_eq!(sizes[0].index_scans, 3, "{:?}", sizes[0]);
    assert_eq!(sizes[1].resolved.as_deref(), Some("bare"));
    assert_eq!(sizes[2].resolved.as_deref(), Some("seen"));
    assert_eq!((sizes[2].bytes, sizes[2].seq_scans), (0, 0));
    assert_eq!(sizes[3].resolved, None);
}
