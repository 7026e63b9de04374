//! A real Prometheus (Debian's `prometheus` package, installed by `scripts/install-deps.sh`)
//! scrapes pgscope's `/metrics` every second while a workload runs through pgscope, and is
//! asked the two questions a DBA asks it:
//!
//! - p99 latency per query: `histogram_quantile(0.99, sum by (le, fingerprint)
//!   (rate(db_client_operation_duration_seconds_bucket[1m])))`; pgscope's own p99 (from its
//!   full-precision histogram, `/api/v1/fingerprints`) must lie in the bucket Prometheus's
//!   interpolated answer falls in.
//! - where the time goes: `topk(5, sum by (db_query_summary)
//!   (rate(db_client_operation_duration_seconds_sum[1m])))`; the five summaries must be the
//!   five with the most total time in pgscope's API.
//!
//! The metric and label names are the ones pgscope exports (the names were right).
//! The workload runs seven query shapes, each on its own table (so each has its own summary,
//! `SELECT tN`), sleeping 60, 20, 15, 12, 7, 3 and 0 ms: the fifth and sixth totals are far
//! enough apart that the top five cannot change, and the three compared for p99 sleep at the
//! low end of their buckets (50–100 ms, 10–50 ms), leaving 30 ms and more for a loaded machine's
//! delays before a bucket boundary. Every shape runs once before the workload and is scraped,
//! so Prometheus's rates see all of the workload's calls.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_exporters::prometheus::BUCKETS_SECONDS;
use pgscope_tests::{free_port, Cluster, Proxy};
use serde_json::Value;
use tempfile::TempDir;

/// The query shapes: (table, seconds slept).
const SHAPES: [(&str, f64); 7] = [
    ("t1", 0.060),
    ("t2", 0.020),
    ("t3", 0.015),
    ("t4", 0.012),
    ("t5", 0.007),
    ("t6", 0.003),
    ("t7", 0.0),
];
/// How long the workload runs once Prometheus scrapes pgscope.
const WORKLOAD: Duration = Duration::from_secs(15);
/// Concurrent client connections running the workload.
const CLIENTS: usize = 2;

/// A Prometheus server in a temporary directory of its own, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (HOST:PORT) every second and waits until it is ready.
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-prometheus-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: pgscope\n    static_configs:\n\
                 \x20     - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot run prometheus ({err}); scripts/install-deps.sh installs it")
            });
        let mut prometheus = Prometheus { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while prometheus.get("/-/ready").0 != 200 {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", prometheus.log());
            }
            assert!(
                Instant::now() < deadline,
                "not ready:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET `path` over HTTP/1.0; (status, body), status 0 when nothing answers.
    fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut response = String::new();
        if stream.read_to_string(&mut response).is_err() {
            return (0, String::new());
        }
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }

    /// The result vector of the instant query `promql`: (labels, value) per series.
    fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let (status, body) = self.get(&format!("/api/v1/query?query={}", encode(promql)));
        assert_eq!(status, 200, "{promql}: {body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        json["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a URL's query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs the seven shapes in turn on one connection, once, then again until `stop`.
async fn workload(url: String, stop: Arc<AtomicBool>) {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    loop {
        for (table, seconds) in SHAPES {
            let sql = format!("SELECT pg_sleep({seconds}) FROM {table}");
            client.batch_execute(&sql).await.unwrap();
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// The bucket `(lower, upper]` of pgscope's histogram that `seconds` falls in.
fn bucket_of(seconds: f64) -> (f64, f64) {
    let mut lower = 0.0;
    for upper in BUCKETS_SECONDS {
        if seconds <= upper {
            return (lower, upper);
        }
        lower = upper;
    }
    (lower, f64::INFINITY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_quantiles_and_top_queries_agree_with_pgscope() {
    let cluster = Cluster::start();
    let tables: Vec<String> = SHAPES
        .iter()
        .map(|(t, _)| format!("CREATE TABLE {t} (id int); INSERT INTO {t} VALUES (1);"))
        .collect();
    cluster.psql(&tables.concat());
    let admin_port = free_port();
    let admin_addr = format!("127.0.0.1:{admin_port}");
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin_addr],
    );
    let prometheus = Prometheus::start(&admin_addr);
    // Wait for the first successful scrape, so Prometheus sees the workload from its start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while prometheus.query("up{job=\"pgscope\"} == 1").is_empty() {
        assert!(
            Instant::now() < deadline,
            "pgscope never scraped:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One round of every shape, scraped, before the workload: a counter's first sample is
    // where `rate` starts, so calls made before it would be missed.
    workload(proxy.url(), Arc::new(AtomicBool::new(true))).await;
    let shapes =
        "count(db_client_operation_duration_seconds_count{db_query_summary=~\"SELECT t.\"})";
    while prometheus.query(shapes).first().map(|(_, n)| *n) != Some(SHAPES.len() as f64) {
        assert!(
            Instant::now() < deadline,
            "shapes never scraped:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(workload(proxy.url(), Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(WORKLOAD).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    // Two more scrapes, so Prometheus has the final counters.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let admin = AdminClient::new(&admin_addr, None);
    let api: Value = serde_json::from_slice(
        &admin
            .get("/api/v1/fingerprints?limit=100")
            .expect("GET /api/v1/fingerprints"),
    )
    .unwrap();
    let rows = api["fingerprints"].as_array().unwrap();

    // p99 per fingerprint.
    let p99 = prometheus.query(
        "histogram_quantile(0.99, sum by (le, fingerprint) \
         (rate(db_client_operation_duration_seconds_bucket[1m])))",
    );
    let mut compared = 0;
    for (table, seconds) in SHAPES.iter().filter(|(_, s)| *s >= 0.015) {
        let summary = format!("SELECT {table}");
        let row = rows
            .iter()
            .find(|r| r["summary"] == summary.as_str())
            .unwrap_or_else(|| panic!("pgscope has no {summary}: {api:#}"));
        let fingerprint = row["fingerprint"].as_str().unwrap();
        let (_, from_prometheus) = p99
            .iter()
            .find(|(labels, _)| labels["fingerprint"] == fingerprint)
            .unwrap_or_else(|| panic!("Prometheus has no p99 for {fingerprint}: {p99:?}"));
        let from_pgscope = row["p99_ms"].as_f64().unwrap() / 1000.0;
        let (lower, upper) = bucket_of(*from_prometheus);
        assert!(
            lower <= from_pgscope && from_pgscope <= upper,
            "{summary} (sleeps {seconds} s): pgscope's p99 {from_pgscope} s is outside the \
             bucket ({lower}, {upper}] of Prometheus's p99 {from_prometheus} s"
        );
        eprintln!(
            "{summary}: Prometheus p99 {from_prometheus:.4} s, pgscope p99 {from_pgscope:.4} s, \
             bucket ({lower}, {upper}]"
        );
        compared += 1;
    }
    assert_eq!(compared, 3);

    // The five summaries with the most time.
    let top = prometheus.query(
        "topk(5, sum by (db_query_summary) \
         (rate(db_client_operation_duration_seconds_sum[1m])))",
    );
    let from_prometheus: BTreeSet<String> = top
        .iter()
        .map(|(labels, _)| labels["db_query_summary"].clone())
        .collect();
    let mut by_summary: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows {
        *by_summary
            .entry(row["summary"].as_str().unwrap_or_default().to_owned())
            .or_default() += row["total_ms"].as_f64().unwrap();
    }
    let mut ranked: Vec<(String, f64)> = by_summary.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let from_pgscope: BTreeSet<String> = ranked.iter().take(5).map(|(s, _)| s.clone()).collect();
    assert_eq!(
        from_prometheus, from_pgscope,
        "Prometheus's top 5 {top:?}; pgscope's ranking {ranked:?}"
    );
    let expected: BTreeSet<String> = (1..=5).map(|n| format!("SELECT t{n}")).collect();
    assert_eq!(from_pgscope, expected, "pgscope's ranking {ranked:?}");
}
