//! The recorder end to end: real clients through the real `pgscope` binary, read back through
//! the admin API and `/metrics`. pgbench's statements are counted exactly; varying literals
//! fold into one fingerprint; a failing statement's SQLSTATE is counted; `pg_sleep(0.05)`
//! has p50 ≥ 50 ms; `/metrics` parses and agrees with the API; a flood of distinct
//! fingerprints stays at the bound; a restart with a state directory keeps the counts.

use std::collections::HashMap;
use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, output_within, Cluster, Proxy};
use serde_json::Value;
use tokio_postgres::NoTls;

/// A proxy in front of `cluster` with its admin API on a known port and `recorder` as the
/// body of its config file's `[recorder]` section.
struct Scope {
    proxy: Proxy,
    admin: AdminClient,
    _config: tempfile::NamedTempFile,
}

fn start(cluster: &Cluster, recorder: &str) -> Scope {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), format!("[recorder]\n{recorder}\n")).unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let path = config.path().to_string_lossy().into_owned();
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin, "--config", &path],
    );
    wait_for_admin(&AdminClient::new(&admin, None));
    Scope {
        proxy,
        admin: AdminClient::new(&admin, None),
        _config: config,
    }
}

fn wait_for_admin(admin: &AdminClient) {
    for _ in 0..200 {
        if admin.get("/healthz").is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the admin API never answered");
}

impl Scope {
    fn json(&self, target: &str) -> Value {
        let body = self
            .admin
            .get(target)
            .unwrap_or_else(|e| panic!("GET {target}: {e}\nproxy log:\n{}", self.proxy.log()));
        serde_json::from_slice(&body).unwrap()
    }

    /// Waits until the recorder holds `calls` calls in all (events are recorded just after
    /// their bytes are forwarded, so a client can see its answer a moment before).
    fn settle(&self, calls: u64) {
        for _ in 0..200 {
            let list = self.json("/api/v1/fingerprints?limit=1");
            if list["totals"]["calls"].as_u64() >= Some(calls) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the recorder never reached {calls} calls");
    }

    /// Every row of the cumulative list.
    fn rows(&self) -> Vec<Value> {
        let list = self.json("/api/v1/fingerprints?limit=100000");
        list["fingerprints"].as_array().cloned().unwrap_or_default()
    }

    /// The row whose normalized query is `query`.
    fn row(&self, query: &str) -> Value {
        let rows = self.rows();
        rows.iter()
            .find(|r| r["query"] == query)
            .cloned()
            .unwrap_or_else(|| {
                let queries: Vec<&Value> = rows.iter().map(|r| &r["query"]).collect();
                panic!("no row for {query:?}; rows: {queries:?}")
            })
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The samples of a Prometheus text exposition: (name, labels, value).
fn parse_metrics(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), HashMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = HashMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
                    let mut value = String::new();
                    let mut chars = after.char_indices();
                    let mut end = after.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, escaped)) = chars.next() {
                                    value.push(if escaped == 'n' { '\n' } else { escaped });
                                }
                            }
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    labels.insert(key.to_owned(), value);
                    rest = after[end..].trim_start_matches(',');
                }
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name:?}"
        );
        samples.push((name, labels, value));
    }
    samples
}

fn sample(
    samples: &[(String, HashMap<String, String>, f64)],
    name: &str,
    fingerprint: &str,
) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name && labels.get("fingerprint").map(String::as_str) == Some(fingerprint)
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn pgbench_statements_are_counted_exactly_in_the_api_and_metrics() {
    let cluster = Cluster::start();
    let mut init = std::process::Command::new(cluster.bin("pgbench"));
    init.args(["-i", "-s", "1", "-q"]).arg(cluster.url());
    assert!(output_within(&mut init, Duration::from_secs(120))
        .status
        .success());
    let scope = start(&cluster, "");
    for mode in ["simple", "prepared"] {
        let mut bench = std::process::Command::new(cluster.bin("pgbench"));
        bench
            .args(["-n", "-c", "2", "-j", "2", "-t", "60", "-M", mode])
            .arg(scope.proxy.url());
        let output = output_within(&mut bench, Duration::from_secs(120));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let expected: u32 = 2 * 2 * 60;
    // Each transaction: BEGIN, five statements, END.
    scope.settle(u64::from(expected) * 7);
    let update = scope.row("update pgbench_accounts set abalance = abalance + $1 where aid = $2");
    assert_eq!(update["calls"], expected, "{update}");
    assert_eq!(update["rows"], expected);
    assert_eq!(update["summary"], "UPDATE pgbench_accounts");
    let select = scope.row("select abalance from pgbench_accounts where aid = $1");
    assert_eq!(select["calls"], expected);
    let insert = scope.row(
        "insert into pgbench_history(tid, bid, aid, delta, mtime) values ($1, $2, $3, $4, current_timestamp)",
    );
    assert_eq!(insert["calls"], expected);

    let text = String::from_utf8(scope.admin.get("/metrics").unwrap()).unwrap();
    let samples = parse_metrics(&text);
    let fingerprint = update["fingerprint"].as_str().unwrap();
    assert_eq!(
        sample(&samples, "pgscope_query_calls_total", fingerprint),
        f64::from(expected)
    );
    assert_eq!(
        sample(
            &samples,
            "db_client_operation_duration_seconds_count",
            fingerprint
        ),
        f64::from(expected)
    );
    assert_eq!(
        sample(&samples, "pgscope_query_rows_total", fingerprint),
        f64::from(expected)
    );
    let sum = sample(
        &samples,
        "db_client_operation_duration_seconds_sum",
        fingerprint,
    );
    let total_ms = update["total_ms"].as_f64().unwrap();
    assert!(
        (sum * 1000.0 - total_ms).abs() < 0.01,
        "{sum} s vs {total_ms} ms"
    );
    let connections = samples
        .iter()
        .find(|(n, _, _)| n == "pgscope_client_connections_total")
        .map(|(_, _, v)| *v)
        .unwrap();
    assert!(connections >= 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_fold_errors_are_counted_and_sleeps_are_slow() {
    let cluster = Cluster::start();
    let scope = start(&cluster, "");
    let client = connect(&scope.proxy.url()).await;
    client
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        .await
        .unwrap();
    for id in 0..40 {
        client
            .batch_execute(&format!("INSERT INTO items VALUES ({id}, 'item {id}')"))
            .await
            .unwrap();
    }
    let select = client
        .prepare("SELECT name FROM items WHERE id < $1")
        .await
        .unwrap();
    // Pipelined: all queries are on the wire before the first answer; the duplicate insert
    // fails on its own.
    let bounds = [5i32, 10, 20];
    let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> =
        bounds.iter().map(|n| [n as _]).collect();
    let queries: Vec<_> = params.iter().map(|p| client.query(&select, p)).collect();
    let duplicate = client.execute("INSERT INTO items VALUES (1, 'again')", &[]);
    let (results, duplicate) =
        futures_util::future::join(futures_util::future::join_all(queries), duplicate).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(duplicate.is_err());
    for _ in 0..3 {
        client.batch_execute("SELECT pg_sleep(0.05)").await.unwrap();
    }
    drop(client);
    // The CREATE, 40 inserts, the failing one, 3 selects, 3 sleeps.
    scope.settle(1 + 41 + 3 + 3);
    let scope2 = &scope;
    let insert = scope2.row("insert into items values ($1, $2)");
    assert_eq!(
        insert["calls"], 41,
        "40 inserts and the failing one: {insert}"
    );
    assert_eq!(insert["errors"]["23505"], 1);
    assert_eq!(insert["rows"], 40);
    let select = scope2.row("select name from items where id < $1");
    assert_eq!(select["calls"], 3);
    assert_eq!(select["rows"], 5 + 10 + 20);
    let sleep = scope2.row("select pg_sleep($1)");
    assert_eq!(sleep["calls"], 3);
    assert!(sleep["p50_ms"].as_f64().unwrap() >= 50.0, "{sleep}");
    let fingerprint = sleep["fingerprint"].as_str().unwrap();
    let detail = scope2.json(&format!("/api/v1/fingerprints/{fingerprint}"));
    assert_eq!(detail["calls"], 3);
    assert!(!detail["distribution"].as_array().unwrap().is_empty());
    assert!(!detail["windows"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_see_only_recent_calls_and_reset_forgets() {
    let cluster = Cluster::start();
    let scope = start(&cluster, "window = \"1s\"\nwindows = 30");
    let client = connect(&scope.proxy.url()).await;
    client.batch_execute("SELECT 1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.batch_execute("SELECT 2").await.unwrap();
    client.batch_execute("SELECT 3").await.unwrap();
    scope.settle(3);
    let recent = scope.json("/api/v1/fingerprints?window=1s");
    assert_eq!(recent["fingerprints"][0]["calls"], 2, "{recent}");
    assert_eq!(scope.row("select $1")["calls"], 3);
    let fingerprint = scope.row("select $1")["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = scope.json(&format!("/api/v1/fingerprints/{fingerprint}"));
    let windows = detail["windows"].as_array().unwrap();
    assert!(windows.len() >= 2, "{detail}");
    assert_eq!(
        windows
            .iter()
            .map(|w| w["calls"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    let too_long = scope
        .admin
        .get("/api/v1/fingerprints?window=1m")
        .unwrap_err();
    assert!(too_long.to_string().contains("longer than"), "{too_long}");
    scope.admin.post("/api/v1/reset").unwrap();
    assert!(scope.rows().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_fingerprints_stays_at_the_bound() {
    let cluster = Cluster::start();
    let scope = start(&cluster, "max_fingerprints = 200");
    let client = connect(&scope.proxy.url()).await;
    client.batch_execute("SELECT pg_sleep(0.5)").await.unwrap();
    // 100k distinct shapes (each alias is a different normalized text), sent as multi-statement
    // simple queries of 10k statements each.
    for batch in 0..10 {
        let sql: String = (0..10_000)
            .map(|i| format!("SELECT 1 AS c{}_{i};", batch))
            .collect();
        client.batch_execute(&sql).await.unwrap();
    }
    scope.settle(200);
    let mut health = scope.json("/healthz");
    for _ in 0..200 {
        if health["recorder"]["evictions"].as_u64() >= Some(100_000 + 1 - 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
        health = scope.json("/healthz");
    }
    assert_eq!(health["recorder"]["entries"], 200, "{health}");
    let evictions = health["recorder"]["evictions"].as_u64().unwrap();
    assert!(evictions >= 100_000 + 1 - 200, "{health}");
    let text = String::from_utf8(scope.admin.get("/metrics").unwrap()).unwrap();
    assert!(
        text.contains(&format!("pgscope_recorder_evictions_total {evictions}")),
        "{text}"
    );
    assert!(text.contains("pgscope_recorder_entries 200"));
    assert_eq!(
        scope.rows()[0]["query"],
        "select pg_sleep($1)",
        "the most expensive entry survives the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_state_directory_keeps_the_counts() {
    let cluster = Cluster::start();
    let state = tempfile::tempdir().unwrap();
    let recorder = format!(
        "state_dir = {:?}\nsnapshot_interval = \"1h\"",
        state.path().display().to_string()
    );
    let mut scope = start(&cluster, &recorder);
    let client = connect(&scope.proxy.url()).await;
    for i in 0..7 {
        client
            .batch_execute(&format!("SELECT {i} AS kept"))
            .await
            .unwrap();
    }
    drop(client);
    scope.settle(7);
    scope.proxy.terminate();
    let status = scope
        .proxy
        .wait_exit(Duration::from_secs(20))
        .expect("pgscope exits on SIGTERM");
    assert!(status.success(), "{}", scope.proxy.log());
    assert!(
        state.path().join("pgscope-snapshot.json").is_file(),
        "{}",
        scope.proxy.log()
    );

    let scope = start(&cluster, &recorder);
    assert_eq!(scope.row("select $1 as kept")["calls"], 7);
    let client = connect(&scope.proxy.url()).await;
    client.batch_execute("SELECT 8 AS kept").await.unwrap();
    scope.settle(8);
    assert_eq!(scope.row("select $1 as kept")["calls"], 8);
}
