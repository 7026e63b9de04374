//! The admin API's routes, statuses and error bodies, over a live recorder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::shape::Shapes;
use pgscope_config::Secret;
use pgscope_exporters::MetricsOptions;
use serde_json::Value;

use super::{LiveSource, Operations, Reply, Request, Router};
use crate::observer::{
    ConnectionInfo, Event, Observer, Outcome, Protocol, QueryFinished, Statement,
};
use crate::recorder::{Recorder, RecorderSettings};
use crate::stats::ProxyStats;

pub(super) fn router(token: Option<&str>) -> (Router, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::new(
        RecorderSettings::default(),
        Arc::new(Shapes::new(100, 4096)),
    ));
    let source = Arc::new(LiveSource {
        recorder: Arc::clone(&recorder),
        stats: Arc::new(ProxyStats::default()),
        growth: Arc::new(crate::growth::GrowthState::default()),
        snapshots: crate::recorder::persist::SnapshotHealth::off(),
    });
    let ops = Operations::with_token(token.map(Secret::new));
    let router = Router::new(source, MetricsOptions::default(), ops).unwrap();
    (router, recorder)
}

fn run(recorder: &Recorder, sql: &str, latency_ms: u64, outcome: Outcome) {
    let finished = Instant::now();
    recorder.observe(&Event::QueryFinished(QueryFinished {
        connection: Arc::new(ConnectionInfo {
            database: "shop".into(),
            user: "web".into(),
            application_name: "api".into(),
            capture: None,
        }),
        statement: Statement::new(sql),
        protocol: Protocol::Extended,
        started: finished - Duration::from_millis(latency_ms),
        finished,
        rows: Some(1),
        command: "SELECT".into(),
        outcome,
        batched: false,
        batch: None,
    }));
}

pub(super) fn get(router: &Router, target: &str) -> Reply {
    send(router, "GET", target, None)
}

pub(super) fn send(
    router: &Router,
    method: &str,
    target: &str,
    authorization: Option<&str>,
) -> Reply {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let request = Request {
        method,
        path,
        query,
        authorization,
        body: b"",
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(router.handle(&request))
}

pub(super) fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap()
}

pub(super) fn error_of(reply: &Reply) -> String {
    assert_eq!(reply.content_type, "application/json");
    json(reply)["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn fingerprints_lists_recorded_queries() {
    let (router, recorder) = router(None);
    for _ in 0..3 {
        run(
            &recorder,
            "SELECT * FROM items WHERE id = 7",
            2,
            Outcome::Ok,
        );
    }
    run(
        &recorder,
        "SELECT * FROM items WHERE id = 8",
        2,
        Outcome::Error {
            sqlstate: *b"57014",
        },
    );
    let reply = get(
        &router,
        "/api/v1/fingerprints?sort=calls&limit=5&user=web&window=5m",
    );
    assert_eq!(reply.status, 200);
    let body = json(&reply);
    let entry = &body["fingerprints"][0];
    assert_eq!(entry["calls"], 4);
    assert_eq!(entry["errors"]["57014"], 1);
    assert_eq!(entry["tables"][0], "items");
    assert_eq!(body["span"], "last 5m");
    for field in [
        "fingerprint",
        "query",
        "summary",
        "operation",
        "rows",
        "total_ms",
        "mean_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "first_seen",
        "last_seen",
    ] {
        assert!(!entry[field].is_null(), "{field} missing");
    }
    let fingerprint = entry["fingerprint"].as_str().unwrap();
    let detail = get(&router, &format!("/api/v1/fingerprints/{fingerprint}"));
    assert_eq!(detail.status, 200);
    let detail = json(&detail);
    assert_eq!(detail["calls"], 4);
    assert!(detail["distribution"]
        .as_array()
        .is_some_and(|b| !b.is_empty()));
    assert_eq!(detail["windows"].as_array().map(Vec::len), Some(1));
}

#[test]
fn bad_requests_get_json_errors() {
    let (router, _) = router(None);
    let cases = [
        ("/api/v1/fingerprints?sort=slowest", 400, "unknown sort key"),
        ("/api/v1/fingerprints?window=forever", 400, "bad window"),
        ("/api/v1/fingerprints?window=2h", 400, "longer than"),
        ("/api/v1/fingerprints?limit=0", 400, "bad limit"),
        ("/api/v1/fingerprints?colour=red", 400, "unknown parameter"),
        ("/api/v1/fingerprints?sort=calls&sort=p99", 400, "twice"),
        ("/api/v1/fingerprints?user=%zz", 400, "percent-escape"),
        ("/api/v1/fingerprints/xyz", 400, "not a fingerprint"),
        (
            "/api/v1/fingerprints/00000000000000ff",
            404,
            "no recorded query",
        ),
        ("/api/v1/series?group=table", 400, "bad group"),
        ("/nowhere", 404, "no route"),
    ];
    for (target, status, message) in cases {
        let reply = get(&router, target);
        assert_eq!(reply.status, status, "{target}");
        assert!(
            error_of(&reply).contains(message),
            "{target}: {}",
            error_of(&reply)
        );
    }
    let reply = send(&router, "DELETE", "/api/v1/fingerprints", None);
    assert_eq!(reply.status, 405);
    let reply = send(&router, "GET", "/api/v1/reset", None);
    assert_eq!(reply.status, 405);
}

#[test]
fn the_token_guards_everything_but_health() {
    let (router, _) = router(Some("s3cret"));
    for target in ["/metrics", "/api/v1/fingerprints", "/api/v1/snapshot"] {
        let reply = get(&router, target);
        assert_eq!(reply.status, 401, "{target}");
        assert!(error_of(&reply).contains("bearer token"));
        assert_eq!(
            send(&router, "GET", target, Some("Bearer wrong")).status,
            401
        );
        assert_eq!(
            send(&router, "GET", target, Some("Bearer s3cret")).status,
            200
        );
    }
    assert_eq!(get(&router, "/healthz").status, 200);
}

#[test]
fn reset_empties_the_recorder() {
    let (router, recorder) = router(None);
    run(&recorder, "SELECT 1", 1, Outcome::Ok);
    let reply = send(&router, "POST", "/api/v1/reset", None);
    assert_eq!(reply.status, 200);
    assert_eq!(json(&reply)["reset"], true);
    assert!(recorder.is_empty());
}

#[test]
fn metrics_and_snapshot_are_served() {
    let (router, recorder) = router(None);
    run(&recorder, "SELECT * FROM items", 3, Outcome::Ok);
    let metrics = get(&router, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("db_client_operation_duration_seconds_count{"),
        "{text}"
    );
    assert!(text.contains("pgscope_client_connections 0"));
    assert!(text.contains("pgscope_spans_dropped_total{reason=\"queue_full\"} 0"));
    let snapshot = get(&router, "/api/v1/snapshot");
    let snapshot = pgscope_exporters::read_snapshot(snapshot.body.as_slice()).unwrap();
    assert_eq!(snapshot.entries.len(), 1);
    let report = json(&get(&router, "/api/v1/report?limit=1"));
    assert_eq!(report["rows"][0]["calls"], 1);
}
