//! `pgscope replay` end to end: real clients captured through pgscope, the capture replayed by
//! the `pgscope` binary against another cluster, and the result compared.
//!
//! Fidelity: a cluster is dumped (pg_dump) before the capture starts; pgbench TPC-B in the
//! simple, extended and prepared modes and a psycopg application (bound parameters,
//! executemany, COPY, a pipeline, a failing statement) run through pgscope while it captures;
//! the dump is restored into a fresh cluster and the capture replayed against it. The fresh
//! cluster must end exactly as the original did, and the report must list every captured
//! fingerprint with the same calls. Rate: a paced capture replayed at `--speed 2` takes about
//! half the time, and `--multiply 3` triples the calls.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{
    free_port, output_within, pgscope_bin, python_ok, run_with_config, wait_for, write_config,
    Cluster, ClusterOptions,
};
use serde_json::{json, Value};

const TOKEN: &str = "replay-test-token";
const PASSWORD: &str = "pw-replay-7Qz";

/// A cluster with pgbench's tables and the application's, and its `app` SCRAM role.
fn cluster() -> Cluster {
    let cluster = Cluster::start_with(ClusterOptions {
        hba: Some(vec![
            "local all postgres trust".to_owned(),
            "host all postgres 127.0.0.1/32 trust".to_owned(),
            "host all app 127.0.0.1/32 scram-sha-256".to_owned(),
        ]),
        ..ClusterOptions::default()
    });
    cluster.psql(&format!(
        "SET password_encryption = 'scram-sha-256'; CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"
    ));
    cluster
}

/// pgscope capturing in front of `cluster`.
struct Capturing {
    child: Child,
    dir: tempfile::TempDir,
    admin_addr: String,
    port: u16,
}

impl Drop for Capturing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Capturing {
    fn start(cluster: &Cluster) -> Capturing {
        let dir = tempfile::tempdir().unwrap();
        let (admin_addr, port) = (format!("127.0.0.1:{}", free_port()), free_port());
        let config = dir.path().join("pgscope.toml");
        let extra = format!("admin_token = \"{TOKEN}\"\n");
        write_config(&config, port, &admin_addr, cluster.port(), &extra);
        let child = run_with_config(&config, &dir.path().join("pgscope.log"), &[]);
        let capturing = Capturing {
            child,
            dir,
            admin_addr,
            port,
        };
        let admin = capturing.admin();
        wait_for("pgscope did not start", || admin.get("/healthz").is_ok());
        let body = json!({"path": capturing.file(), "duration": "10m"});
        admin
            .post_json("/api/v1/capture", body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("starting the capture: {e}"));
        capturing
    }

    fn admin(&self) -> AdminClient {
        AdminClient::new(&self.admin_addr, Some(TOKEN.to_owned()))
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("traffic.pgcap")
    }

    fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the capture and returns its file.
    fn stop(&self) -> PathBuf {
        let reply = self.admin().delete("/api/v1/capture").unwrap();
        let stopped: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(stopped["capture"]["reason"], "stopped", "{stopped}");
        self.file()
    }
}

fn pgbench(cluster: &Cluster, url: &str, args: &[&str]) {
    let mut command = Command::new(cluster.bin("pgbench"));
    command.args(args).arg(url);
    let output = output_within(&mut command, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "pgbench {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The psycopg application, as `app`.
fn application(url: &str) {
    let script = format!(
        r#"
import psycopg
with psycopg.connect("{url}", password="{PASSWORD}", application_name="shop") as conn:
    cur = conn.cursor()
    cur.executemany("INSERT INTO items VALUES (%s, %s, %s)",
                    [(i, "item-%d" % i, 9.5 + i) for i in range(1, 6)])
    with cur.copy("COPY items (id, label, price) FROM STDIN") as copy:
        for i in range(10, 13):
            copy.write_row((i, "copied-%d" % i, 1.25))
    with conn.pipeline():
        cur.execute("SELECT label FROM items WHERE id = %s", (10,))
        cur.execute("UPDATE items SET price = price * %s WHERE id = %s", (2, 1))
        cur.execute("DELETE FROM items WHERE id = %s", (11,))
    conn.commit()
    try:
        cur.execute("SELECT * FROM missing_table WHERE x = %s", ("x",))
    except psycopg.errors.UndefinedTable:
        conn.rollback()
    cur.execute("UPDATE items SET label = label || %s WHERE id > %s", ("!", 3))
    conn.commit()
"#
    );
    python_ok(&script, "");
}

/// What the fidelity test compares: balances per branch, history rows, the application's rows.
fn state(cluster: &Cluster) -> Vec<String> {
    [
        "SELECT string_agg(bid || ':' || s, ',' ORDER BY bid) FROM \
         (SELECT bid, sum(abalance) AS s FROM pgbench_accounts GROUP BY bid) b",
        "SELECT count(*) FROM pgbench_history",
        "SELECT string_agg(id || ':' || label || ':' || price, ',' ORDER BY id) FROM items",
    ]
    .iter()
    .map(|sql| cluster.psql(sql))
    .collect()
}

/// Runs `pgscope replay FILE ARGS…` with `PGPASSWORD`, returns its stdout; panics with its
/// stderr if it fails.
fn replay(file: &Path, args: &[&str]) -> String {
    let mut command = Command::new(pgscope_bin());
    command
        .arg("replay")
        .arg(file)
        .args(args)
        .env("PGPASSWORD", PASSWORD)
        .env_remove("PGPASSFILE");
    let output = output_within(&mut command, Duration::from_secs(180));
    assert!(
        output.status.success(),
        "pgscope replay {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_report(file: &Path, target: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mut all = vec!["--target", target, "--report", out.to_str().unwrap()];
    all.extend_from_slice(args);
    replay(file, &all);
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

#[test]
fn a_restored_dump_replayed_ends_as_the_original_and_every_fingerprint_has_its_calls() {
    let original = cluster();
    original.psql(
        "CREATE TABLE items (id int PRIMARY KEY, label text, price numeric); \
         GRANT ALL ON items TO app",
    );
    let mut init = Command::new(original.bin("pgbench"));
    init.args(["-i", "-q", "-s", "1"]).arg(original.url());
    assert!(output_within(&mut init, Duration::from_secs(120))
        .status
        .success());
    let dump = tempfile::tempdir().unwrap();
    let dump_file = dump.path().join("before.dump");
    let mut pg_dump = Command::new(original.bin("pg_dump"));
    pg_dump
        .args(["-Fc", "-f"])
        .arg(&dump_file)
        .arg(original.url());
    assert!(output_within(&mut pg_dump, Duration::from_secs(120))
        .status
        .success());

    let capturing = Capturing::start(&original);
    let through = capturing.url("postgres");
    for mode in ["simple", "extended", "prepared"] {
        pgbench(
            &original,
            &through,
            &["-n", "-c", "2", "-t", "40", "-M", mode],
        );
    }
    application(&capturing.url("app"));
    let file = capturing.stop();
    let expected = state(&original);

    let fresh = cluster();
    let mut restore = Command::new(fresh.bin("pg_restore"));
    restore.args(["-d", &fresh.url()]).arg(&dump_file);
    let restored = output_within(&mut restore, Duration::from_secs(120));
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_ne!(state(&fresh), expected, "the workload changed the original");
    let target = format!("postgres://127.0.0.1:{}", fresh.port());
    let report = json_report(&file, &target, &[]);
    assert_eq!(state(&fresh), expected, "{report:#}");

    let changes = report["baseline"]["changes"].as_array().unwrap();
    assert!(changes.len() >= 10, "{report:#}");
    for change in changes {
        assert_eq!(change["calls_before"], change["calls_after"], "{change:#}");
        assert_ne!(change["status"], "missing", "{change:#}");
        assert!(change.get("new_errors").is_none(), "{change:#}");
    }
    let failing = changes
        .iter()
        .find(|c| {
            c["summary"]
                .as_str()
                .unwrap_or("")
                .contains("missing_table")
        })
        .unwrap_or_else(|| panic!("no failing statement in {report:#}"));
    assert_eq!(
        (
            failing["errors_before"].as_u64(),
            failing["errors_after"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let summary = &report["replay"];
    assert_eq!(summary["failures"], json!([]), "{summary:#}");
    assert_eq!(
        summary["statements_captured"],
        summary["statements_replayed"]
    );
}

#[test]
fn a_paced_capture_replays_in_half_the_time_at_speed_two_and_multiply_three_triples_the_calls() {
    let original = cluster();
    let mut init = Command::new(original.bin("pgbench"));
    init.args(["-i", "-q", "-s", "1"]).arg(original.url());
    assert!(output_within(&mut init, Duration::from_secs(120))
        .status
        .success());
    let capturing = Capturing::start(&original);
    // 2 s of SELECTs at 40 per second: mostly think time.
    pgbench(
        &original,
        &capturing.url("postgres"),
        &["-n", "-S", "-c", "1", "-T", "2", "-R", "40"],
    );
    let file = capturing.stop();
    let target = format!("postgres://127.0.0.1:{}", original.port());
    let timed = |speed: &str| {
        let start = Instant::now();
        let report = json_report(&file, &target, &["--speed", speed]);
        (start.elapsed(), report)
    };
    let (normal, report) = timed("1");
    let (double, _) = timed("2");
    let ratio = double.as_secs_f64() / normal.as_secs_f64();
    assert!(normal >= Duration::from_millis(1500), "{normal:?}");
    assert!((0.3..0.8).contains(&ratio), "{double:?} vs {normal:?}");
    let calls = |report: &Value| -> u64 {
        report["baseline"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["summary"] == "SELECT pgbench_accounts")
            .map(|c| c["calls_after"].as_u64().unwrap())
            .sum()
    };
    let once = calls(&report);
    assert!(once >= 40, "{report:#}");
    let tripled = json_report(&file, &target, &["--speed", "max", "--multiply", "3"]);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("replay.html");
    replay(
        &file,
        &[
            "--target",
            &target,
            "--speed",
            "max",
            "--report",
            page.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h2 id=\"replay\">Replay</h2>"), "{html}");
    assert!(html.contains("id=\"changes\""), "{html}");
    let text = replay(&file, &["--target", &target, "--speed", "max"]);
    assert!(text.contains("# Replay of "), "{text}");
    assert_eq!(calls(&tripled), 3 * once, "{tripled:#}");
    assert_eq!(
        tripled["replay"]["sessions"],
        3 * report["replay"]["sessions"].as_u64().unwrap()
    );
}
