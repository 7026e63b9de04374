//! `pgscope report`, `pgscope snapshot save` and the admin API's guards, against a live proxy:
//! the token is required (401 without it), bad requests get 4xx JSON errors, a saved snapshot
//! is a baseline that makes new and regressed queries stand out, and the HTML report opens in
//! headless Chromium showing the expected top query.

use std::process::Command;
use std::time::Duration;

use pgscope::cli::report::client::{AdminClient, ClientError};
use pgscope_tests::{free_port, output_within, pgscope_bin, rendered_dom, Cluster, Proxy};
use serde_json::Value;
use tokio_postgres::NoTls;

const TOKEN: &str = "test-token-42";

struct Scope {
    proxy: Proxy,
    admin: String,
}

fn start(cluster: &Cluster) -> Scope {
    let admin = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin, "--admin-token", TOKEN],
    );
    let client = AdminClient::new(&admin, None);
    for _ in 0..200 {
        if client.get("/healthz").is_ok() {
            return Scope { proxy, admin };
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the admin API never answered:\n{}", proxy.log());
}

impl Scope {
    fn client(&self) -> AdminClient {
        AdminClient::new(&self.admin, Some(TOKEN.to_owned()))
    }

    /// Runs `pgscope ARGS… --admin ADDR` with the token in the environment; its stdout.
    fn pgscope(&self, args: &[&str]) -> String {
        let mut command = Command::new(pgscope_bin());
        command
            .args(args)
            .args(["--admin", &self.admin])
            .env("PGSCOPE_ADMIN_TOKEN", TOKEN);
        let output = output_within(&mut command, Duration::from_secs(60));
        assert!(
            output.status.success(),
            "pgscope {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the recorder holds at least `calls` calls.
    fn settle(&self, calls: u64) {
        for _ in 0..200 {
            let body = self.client().get("/api/v1/fingerprints?limit=1").unwrap();
            let list: Value = serde_json::from_slice(&body).unwrap();
            if list["totals"]["calls"].as_u64() >= Some(calls) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the recorder never reached {calls} calls");
    }
}

async fn run(url: &str, statements: &[&str]) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    for sql in statements {
        client.batch_execute(sql).await.unwrap();
    }
}

fn status_of(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Status { status, message } => (status, message),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

#[test]
fn the_admin_api_needs_the_token_and_answers_bad_requests_with_json() {
    let cluster = Cluster::start();
    let scope = start(&cluster);
    let anonymous = AdminClient::new(&scope.admin, None);
    for target in ["/metrics", "/api/v1/fingerprints", "/api/v1/snapshot"] {
        let (status, message) = status_of(anonymous.get(target).unwrap_err());
        assert_eq!(status, 401, "{target}");
        assert!(message.contains("bearer token"), "{message}");
    }
    let wrong = AdminClient::new(&scope.admin, Some("nope".to_owned()));
    assert_eq!(status_of(wrong.get("/metrics").unwrap_err()).0, 401);
    assert!(anonymous.get("/healthz").is_ok());
    let client = scope.client();
    for (target, status) in [
        ("/api/v1/fingerprints?sort=slowest", 400),
        ("/api/v1/fingerprints?window=yesterday", 400),
        ("/api/v1/fingerprints/not-hex", 400),
        ("/api/v1/fingerprints/0123456789abcdef", 404),
        ("/api/v2/anything", 404),
    ] {
        let (got, message) = status_of(client.get(target).unwrap_err());
        assert_eq!(got, status, "{target}: {message}");
        assert!(!message.is_empty());
    }
    assert_eq!(status_of(client.get("/api/v1/reset").unwrap_err()).0, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_compare_with_a_saved_baseline_and_render_as_html() {
    let cluster = Cluster::start();
    let scope = start(&cluster);
    let url = scope.proxy.url();
    run(
        &url,
        &[
            "CREATE TABLE t (id int)",
            "SELECT pg_sleep(0.01)",
            "SELECT count(*) FROM t",
        ],
    )
    .await;
    scope.settle(3);
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    scope.pgscope(&["snapshot", "save", baseline.to_str().unwrap()]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(saved["entries"].as_array().map(Vec::len), Some(3));

    run(
        &url,
        &[
            "SELECT pg_sleep(0.2)",
            "SELECT pg_sleep(0.2)",
            "SELECT id FROM t WHERE id = 1",
        ],
    )
    .await;
    scope.settle(6);
    let text = scope.pgscope(&["report", "--baseline", baseline.to_str().unwrap()]);
    let first = text.lines().find(|l| l.starts_with("# Query 1:")).unwrap();
    assert!(first.contains("SELECT"), "{text}");
    assert!(text.contains("select pg_sleep($1)"), "{text}");
    let changes: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("# Changes vs baseline"))
        .skip(2)
        .take_while(|l| l.starts_with("# ") && !l.starts_with("# Query"))
        .collect();
    assert!(changes[0].contains("NEW"), "{text}");
    assert!(changes[1].contains("REGRESSED"), "{text}");

    let json: Value =
        serde_json::from_str(&scope.pgscope(&["report", "--format", "json"])).unwrap();
    let top = json["rows"][0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(json["rows"][0]["query"], "select pg_sleep($1)");
    assert_eq!(json["rows"][0]["calls"], 3);

    let page = dir.path().join("report.html");
    scope.pgscope(&[
        "report",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script") && !html.contains("<link"));
    let dom = rendered_dom(&page);
    assert!(dom.contains(&format!("<code>{top}</code>")), "{dom}");
    assert!(dom.contains("id=\"q1\""));
    assert!(dom.matches("<svg").count() >= 3, "a chart per query");
}
