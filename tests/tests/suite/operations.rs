//! What operators expect of a daemon, against the real binary: `POST /api/v1/reload` (with the
//! token, reporting what changed; a bad file answered with the error and changing nothing), a
//! new `admin_token` in force after a reload, the last reload in `/healthz`, `pgscope_build_info`
//! and `process_*` in `/metrics`, `log_format = "json"`, and `/readyz` following the upstream.

use std::process::{Child, Command};

use pgscope::cli::report::client::{AdminClient, ClientError};
use pgscope_tests::{free_port, metric, psql_at, run_with_config, wait_for, write_config, Cluster};
use serde_json::Value;

/// A running `pgscope run --config FILE`, killed on drop.
struct Running {
    child: Child,
    dir: tempfile::TempDir,
    admin_addr: String,
    port: u16,
    upstream: u16,
}

impl Running {
    /// Starts pgscope in front of `upstream` with `extra` lines in its config file.
    fn start(upstream: u16, extra: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let (admin_addr, port) = (format!("127.0.0.1:{}", free_port()), free_port());
        let config = dir.path().join("pgscope.toml");
        write_config(&config, port, &admin_addr, upstream, extra);
        let child = run_with_config(&config, &dir.path().join("pgscope.log"), &[]);
        let running = Running {
            child,
            dir,
            admin_addr,
            port,
            upstream,
        };
        let open = running.admin(None);
        wait_for("pgscope did not start", || open.get("/healthz").is_ok());
        running
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("pgscope.toml")
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("pgscope.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap()
    }

    /// Rewrites the config file: the same listen, admin and upstream, then `extra`.
    fn write_config(&self, extra: &str) {
        let path = self.config_path();
        write_config(&path, self.port, &self.admin_addr, self.upstream, extra);
    }

    fn admin(&self, token: Option<&str>) -> AdminClient {
        AdminClient::new(&self.admin_addr, token.map(str::to_owned))
    }

    fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// One query through pgscope.
    fn query(&self) {
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let output = psql_at(&url, &["-c", "SELECT 1"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// The HTTP status of a failed request.
fn status_of(result: Result<Vec<u8>, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Status { status, message }) => (status, message),
        other => panic!("expected an error status, got {other:?}"),
    }
}

fn last_reload(admin: &AdminClient) -> Value {
    json(&admin.get("/healthz").unwrap())["reload"].clone()
}

#[test]
fn post_reload_applies_a_changed_file_reports_it_and_needs_the_token() {
    let cluster = Cluster::start();
    let pgscope = Running::start(
        cluster.port(),
        "admin_token = \"t0ken\"\nmax_connections = 5\n",
    );
    let admin = pgscope.admin(Some("t0ken"));
    assert_eq!(last_reload(&admin), Value::Null);
    pgscope.write_config("admin_token = \"t0ken\"\nmax_connections = 9\nthreads = 3\n");

    let (status, _) = status_of(pgscope.admin(None).post("/api/v1/reload"));
    assert_eq!(status, 401);
    let (status, _) = status_of(pgscope.admin(Some("wrong")).post("/api/v1/reload"));
    assert_eq!(status, 401);
    assert_eq!(metric(&admin, "pgscope_config_reloads_total"), Some(0.0));

    let reply = json(&admin.post("/api/v1/reload").unwrap());
    assert_eq!(reply["reloaded"], true, "{reply}");
    let summary = reply["summary"].as_str().unwrap();
    assert!(summary.contains("max_connections 5 -> 9"), "{summary}");
    assert!(summary.contains("needing a restart: threads"), "{summary}");
    assert_eq!(metric(&admin, "pgscope_config_reloads_total"), Some(1.0));
    assert!(pgscope
        .log()
        .contains("configuration reloaded: max_connections 5 -> 9"));
    let last = last_reload(&admin);
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(last["summary"], summary);
    assert_eq!(last["at"], reply["at"]);

    // A bad file: the error, naming the key, and nothing changes.
    pgscope.write_config("admin_token = \"other\"\nmax_connections = \"many\"\n");
    let (status, message) = status_of(admin.post("/api/v1/reload"));
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("nothing changed"), "{message}");
    assert!(message.contains("for max_connections"), "{message}");
    // Read with the old token: it is still in force.
    assert_eq!(
        metric(&admin, "pgscope_config_reload_failures_total"),
        Some(1.0)
    );
    let last = last_reload(&admin);
    assert_eq!(last["ok"], false, "{last}");
    assert!(last["error"].as_str().unwrap().contains("max_connections"));
    pgscope.query();

    // The file gone: 500, nothing changes.
    std::fs::remove_file(pgscope.config_path()).unwrap();
    let (status, message) = status_of(admin.post("/api/v1/reload"));
    assert_eq!(status, 500, "{message}");
    assert!(message.contains("cannot read config file"), "{message}");
    pgscope.query();
}

#[test]
fn a_changed_admin_token_is_in_force_after_a_reload() {
    let cluster = Cluster::start();
    let pgscope = Running::start(cluster.port(), "admin_token = \"first\"\n");
    let (first, second, third) = (
        pgscope.admin(Some("first")),
        pgscope.admin(Some("second")),
        pgscope.admin(Some("third")),
    );
    assert!(first.get("/metrics").is_ok());

    // Through the API …
    pgscope.write_config("admin_token = \"second\"\n");
    let reply = json(&first.post("/api/v1/reload").unwrap());
    assert!(
        reply["summary"]
            .as_str()
            .unwrap()
            .contains("admin_token changed"),
        "{reply}"
    );
    assert_eq!(status_of(first.get("/metrics")).0, 401);
    assert!(second.get("/metrics").is_ok());

    // … and through SIGHUP, shown in /healthz.
    pgscope.write_config("admin_token = \"third\"\n");
    pgscope.hup();
    wait_for("the SIGHUP reload did not apply the token", || {
        third.get("/metrics").is_ok()
    });
    assert_eq!(status_of(second.get("/metrics")).0, 401);
    let last = last_reload(&third);
    assert_eq!(last["ok"], true, "{last}");
    assert!(
        last["summary"]
            .as_str()
            .unwrap()
            .contains("admin_token changed"),
        "{last}"
    );
    // The probes never need it.
    let open = pgscope.admin(None);
    assert!(open.get("/healthz").is_ok());
    assert!(open.get("/readyz").is_ok());
}

#[test]
fn metrics_carry_build_info_and_process_metrics() {
    let cluster = Cluster::start();
    let pgscope = Running::start(cluster.port(), "");
    let admin = pgscope.admin(None);
    let text = String::from_utf8(admin.get("/metrics").unwrap()).unwrap();
    let build = text
        .lines()
        .find(|l| l.starts_with("pgscope_build_info{"))
        .unwrap_or_else(|| panic!("no pgscope_build_info: {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{build}"
    );
    assert!(build.ends_with(" 1"), "{build}");
    let cpu = metric(&admin, "process_cpu_seconds_total").expect("process_cpu_seconds_total");
    assert!(cpu >= 0.0);
    let fds = metric(&admin, "process_open_fds").expect("process_open_fds");
    // Listeners, the admin socket, the log, this very connection …
    assert!(fds >= 4.0, "{fds}");
    let max = metric(&admin, "process_max_fds").expect("process_max_fds");
    assert!(max >= fds);
    let rss = metric(&admin, "process_resident_memory_bytes").expect("resident memory");
    assert!(rss > 1e6, "{rss}");
    let started = metric(&admin, "process_start_time_seconds").expect("start time");
    assert!(started > 1.6e9, "{started}");
}

#[test]
fn json_log_format_writes_one_json_object_per_line_and_a_reload_switches_it() {
    let cluster = Cluster::start();
    let pgscope = Running::start(
        cluster.port(),
        "log_format = \"json\"\nlog_level = \"debug\"\n",
    );
    pgscope.query();
    let admin = pgscope.admin(None);
    wait_for("no query in the log", || pgscope.log().contains("SELECT 1"));
    let text = pgscope.log();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(lines.len() >= 3, "{text}");
    for line in &lines {
        let object = line.as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, ["timestamp", "level", "target", "message"], "{line}");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["message"].as_str().unwrap().contains("proxying")),
        "the start banner is a JSON line too: {text}"
    );
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "{text}");

    pgscope.write_config("log_format = \"text\"\nlog_level = \"debug\"\n");
    let reply = json(&admin.post("/api/v1/reload").unwrap());
    assert!(
        reply["summary"]
            .as_str()
            .unwrap()
            .contains("log_format json -> text"),
        "{reply}"
    );
    let after = pgscope.log()[text.len()..].to_owned();
    let reloaded = after
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_else(|| panic!("{after}"));
    assert!(
        reloaded.starts_with('[') && reloaded.contains(" INFO "),
        "{reloaded}"
    );
}

#[test]
fn readyz_is_ready_with_the_upstream_up_and_503_once_it_stops() {
    let cluster = Cluster::start();
    let pgscope = Running::start(cluster.port(), "admin_token = \"t\"\n");
    let open = pgscope.admin(None);
    let ready = json(&open.get("/readyz").unwrap());
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["upstream"], format!("127.0.0.1:{}", cluster.port()));

    drop(cluster);
    let mut last = (0, String::new());
    wait_for(
        "/readyz stayed ready after the upstream stopped",
        || match open.get("/readyz") {
            Ok(_) => false,
            Err(error) => {
                last = status_of(Err(error));
                true
            }
        },
    );
    let (status, body) = last;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "not ready");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("does not accept connections"),
        "{body}"
    );
    // Liveness is another matter.
    assert_eq!(json(&open.get("/healthz").unwrap())["status"], "ok");
}
