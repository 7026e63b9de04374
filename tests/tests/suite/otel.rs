//! OpenTelemetry spans end to end: `pgscope run` with tracing on, real clients, and an OTLP
//! receiver inside the test (HTTP/protobuf and gRPC, decoded with `opentelemetry-proto`).
//!
//! - every attribute of the span of a successful SELECT, a failing statement, a pipelined
//!   batch and a COPY, over both transports (one configured by the `[tracing]` file section,
//!   the other by the standard `OTEL_*` variables);
//! - an application instrumented with OpenTelemetry (Python, psycopg with sqlcommenter)
//!   whose database span becomes the parent of pgscope's span;
//! - a collector that refuses connections: pgbench runs clean and `/metrics` counts the
//!   dropped spans;
//! - spans still queued at SIGTERM are exported before the process exits;
//! - `https://` collectors over both transports, with the CA and client certificate of the
//!   `OTEL_EXPORTER_OTLP_*CERTIFICATE`/`*KEY` variables (`…_TRACES_…` winning); an untrusted
//!   collector certificate gets no span; a bad TLS file stops pgscope at start.

#[path = "../../otlp/mod.rs"]
pub(crate) mod otlp;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use futures_util::{future, SinkExt};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp::checks::{
    a_select_span_arrives, check_common, config_for, connect, spans_named, ARRIVAL, QUICK, SERVICE,
};
use otlp::receiver::Transport;
use otlp::tls::ServerTls;
use otlp::tls::{https_ca, text};
use otlp::{ReceivedSpan, Receiver, TracedProxy};
use pgscope_tests::{output_within, python, Cluster, TestCa, CLIENT_TIMEOUT};
use serde_json::Value;
use tokio_postgres::error::SqlState;

/// The statement the pipelined batch runs.
const LOOKUP: &str = "SELECT name FROM items WHERE id = $1";
/// The COPY statement.
const COPY: &str = "COPY items (id, name) FROM STDIN";

/// What `db.query.text` holds for `sql`: its normalized text.
fn normalized(sql: &str) -> String {
    pgscope_fingerprint::fingerprint(sql).1
}

fn expect(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A successful SELECT, a failing statement, a pipelined batch and a COPY through `proxy`;
/// checks every attribute of their spans.
async fn check_query_kinds(cluster: &Cluster, proxy: &TracedProxy, receiver: &Receiver) {
    cluster.psql(
        "CREATE TABLE items (id int PRIMARY KEY, name text); \
         INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    let client = connect(proxy).await;

    // A successful SELECT.
    let rows = client
        .query("SELECT id, name FROM items WHERE id < $1", &[&10_i32])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let select = spans_named(receiver, "SELECT items", 1);
    let select = select
        .iter()
        .find(|s| s.attributes()["db.query.text"].contains("id <"))
        .expect("the SELECT's span");
    assert_eq!(
        select.span.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Unset as i32
    );
    assert_eq!(
        select.attributes()["db.query.text"],
        "select id, name from items where id < $1",
        "normalized, without the literal"
    );
    assert_eq!(
        check_common(select, cluster),
        expect(&[
            ("db.operation.name", "SELECT"),
            ("db.collection.name", "items"),
            ("db.query.summary", "SELECT items"),
            (
                "db.query.text",
                &normalized("SELECT id, name FROM items WHERE id < $1")
            ),
            ("db.response.returned_rows", "3"),
        ])
    );

    // A failing statement.
    let error = client
        .simple_query("SELECT * FROM no_such_table")
        .await
        .expect_err("the table does not exist");
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    let failed = spans_named(receiver, "SELECT no_such_table", 1);
    let status = failed[0].span.status.clone().expect("a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("42P01"), "{status:?}");
    assert_eq!(
        check_common(&failed[0], cluster),
        expect(&[
            ("db.operation.name", "SELECT"),
            ("db.collection.name", "no_such_table"),
            ("db.query.summary", "SELECT no_such_table"),
            ("db.query.text", &normalized("SELECT * FROM no_such_table")),
            ("db.response.status_code", "42P01"),
            ("error.type", "42P01"),
        ])
    );

    // A pipelined batch: five Executes on the connection before the first reply is read.
    let lookup = client.prepare(LOOKUP).await.unwrap();
    let ids: Vec<i32> = (1..=5).collect();
    let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> = ids
        .iter()
        .map(|id| [id as &(dyn tokio_postgres::types::ToSql + Sync)])
        .collect();
    let found = future::try_join_all(params.iter().map(|p| client.query_opt(&lookup, p)))
        .await
        .unwrap();
    assert_eq!(found.iter().filter(|row| row.is_some()).count(), 3);
    let mut batch: Vec<ReceivedSpan> = spans_named(receiver, "SELECT items", 6)
        .into_iter()
        .filter(|s| s.attributes()["db.query.text"] == normalized(LOOKUP))
        .collect();
    assert_eq!(batch.len(), 5, "{batch:?}");
    batch.sort_by_key(|s| s.span.start_time_unix_nano);
    let mut returned = Vec::new();
    for (i, span) in batch.iter().enumerate() {
        let mut attrs = check_common(span, cluster);
        // These five run as one pipeline: a completion read together with the one before it
        // was not timed on its own and is marked batched (see README "What latency means").
        if let Some(batched) = attrs.remove("pgscope.batched") {
            assert_eq!(batched, "true");
        }
        returned.push(
            attrs
                .remove("db.response.returned_rows")
                .unwrap_or_default(),
        );
        assert_eq!(
            attrs,
            expect(&[
                ("db.operation.name", "SELECT"),
                ("db.collection.name", "items"),
                ("db.query.summary", "SELECT items"),
                ("db.query.text", &normalized(LOOKUP)),
            ])
        );
        // In a pipeline each query's interval starts when the previous one completed.
        if let Some(previous) = i.checked_sub(1).and_then(|p| batch.get(p)) {
            assert!(span.span.start_time_unix_nano >= previous.span.end_time_unix_nano);
        }
    }
    assert_eq!(returned, ["1", "1", "1", "0", "0"]);

    // COPY FROM STDIN.
    let sink = client.copy_in(COPY).await.unwrap();
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"10\tten\n11\televen\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    let copy = spans_named(receiver, "COPY items", 1);
    assert_eq!(
        check_common(&copy[0], cluster),
        expect(&[
            ("db.operation.name", "COPY"),
            ("db.collection.name", "items"),
            ("db.query.summary", "COPY items"),
            ("db.query.text", &normalized(COPY)),
            ("pgscope.affected_rows", "2"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attribute_is_exported_over_http_protobuf_configured_by_file() {
    let cluster = Cluster::start();
    let receiver = Receiver::start(Transport::Http);
    let proxy = TracedProxy::start(&cluster, &config_for(&receiver), &[QUICK]);
    check_query_kinds(&cluster, &proxy, &receiver).await;
    assert!(receiver.requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attribute_is_exported_over_grpc_switched_on_and_configured_by_otel_variables() {
    let cluster = Cluster::start();
    let receiver = Receiver::start(Transport::Grpc);
    let endpoint = receiver.endpoint();
    let proxy = TracedProxy::start(
        &cluster,
        "",
        &[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", SERVICE),
            QUICK,
        ],
    );
    check_query_kinds(&cluster, &proxy, &receiver).await;
}

#[test]
fn an_instrumented_application_span_is_the_parent_of_the_query_span() {
    let cluster = Cluster::start();
    cluster.psql(
        "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (7, 'seven')",
    );
    let receiver = Receiver::start(Transport::Http);
    // Roots are never sampled: only the application's sampled trace context makes a span.
    let proxy = TracedProxy::start(
        &cluster,
        &config_for(&receiver),
        &[QUICK, ("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/otel_app.py");
    let mut command = Command::new(python());
    command
        .arg(script)
        .arg(proxy.url())
        .arg(receiver.endpoint());
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "otel_app.py failed ({}); it needs opentelemetry-sdk, \
         opentelemetry-exporter-otlp-proto-http, opentelemetry-instrumentation-psycopg and \
         psycopg in $PGSCOPE_TEST_PYTHON (bash scripts/install-deps.sh installs them):\n\
         {stdout}\n{}\nproxy log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        proxy.log()
    );
    let summary: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ok "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let trace_id = summary["trace_id"].as_str().expect("trace_id").to_owned();
    let request_span_id = summary["request_span_id"]
        .as_str()
        .expect("span id")
        .to_owned();

    let ours = receiver.wait_for(1, ARRIVAL, |s| {
        s.service == SERVICE && s.span.name == "SELECT users"
    });
    let ours = &ours[0];
    assert_eq!(ours.trace_id(), trace_id, "same trace as the application");
    assert_eq!(
        ours.attributes()["db.query.text"],
        "select name from users where id = $1"
    );
    let parent = receiver
        .spans()
        .into_iter()
        .find(|s| s.span_id() == ours.parent_span_id())
        .unwrap_or_else(|| {
            panic!(
                "no span {} among {:?}",
                ours.parent_span_id(),
                receiver.spans()
            )
        });
    assert_eq!(parent.service, "otel-app");
    assert_eq!(parent.trace_id(), trace_id);
    assert_eq!(
        parent.span.kind,
        SpanKind::Client as i32,
        "the psycopg span: {parent:?}"
    );
    assert_eq!(
        parent.parent_span_id(),
        request_span_id,
        "under the request span"
    );
    // Nothing else reached the receiver from pgscope: its roots were not sampled.
    let ours_total = receiver
        .spans()
        .iter()
        .filter(|s| s.service == SERVICE)
        .count();
    assert_eq!(ours_total, 1);
}

#[test]
fn a_refusing_collector_drops_spans_without_failing_pgbench() {
    let cluster = Cluster::start();
    let closed = pgscope_tests::free_port();
    let config = format!(
        "[tracing]\nenabled = true\nendpoint = \"http://127.0.0.1:{closed}\"\nexport_timeout = \"2s\"\n"
    );
    let proxy = TracedProxy::start(&cluster, &config, &[QUICK]);
    let pgbench = |args: &[&str]| {
        let mut command = Command::new(cluster.bin("pgbench"));
        command.args(args).arg(proxy.url());
        let output = output_within(&mut command, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "pgbench {args:?} failed:\n{stdout}\n{}\nproxy log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            proxy.log()
        );
        stdout
    };
    pgbench(&["-i", "-s", "1", "-q"]);
    let report = pgbench(&["-n", "-c", "2", "-j", "2", "-t", "200", "-M", "extended"]);
    assert!(
        report.contains("number of transactions actually processed: 400/400"),
        "{report}"
    );
    assert!(
        report.contains("number of failed transactions: 0"),
        "{report}"
    );
    // Spans are dropped when an export fails, or before that when the queue is full.
    let dropped = || {
        ["export_failed", "queue_full"]
            .iter()
            .map(|reason| {
                let series = format!("pgscope_spans_dropped_total{{reason=\"{reason}\"}}");
                proxy.metric(&series).unwrap_or(0.0)
            })
            .sum::<f64>()
    };
    let deadline = std::time::Instant::now() + ARRIVAL;
    // 400 transactions of 7 statements each, besides the initialisation's.
    while dropped() < 2800.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(dropped() >= 2800.0, "{}", proxy.metrics());
    assert!(
        proxy.metric("pgscope_spans_dropped_total{reason=\"export_failed\"}") > Some(0.0),
        "{}",
        proxy.metrics()
    );
    assert_eq!(proxy.metric("pgscope_spans_exported_total"), Some(0.0));
    assert!(
        proxy.log().contains("span export failed"),
        "{}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_spans_are_exported_at_graceful_shutdown() {
    let cluster = Cluster::start();
    let receiver = Receiver::start(Transport::Grpc);
    // Batches would wait an hour: only the shutdown flush can deliver them.
    let mut proxy = TracedProxy::start(
        &cluster,
        &config_for(&receiver),
        &[("OTEL_BSP_SCHEDULE_DELAY", "3600000")],
    );
    let client = connect(&proxy).await;
    for i in 0..3_i32 {
        client
            .query_one("SELECT $1::int AS n", &[&i])
            .await
            .unwrap();
    }
    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.spans().is_empty(), "exported before shutdown");
    let status = proxy.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", proxy.log());
    let spans = receiver.wait_for(3, Duration::from_secs(5), |s| s.service == SERVICE);
    assert!(spans.iter().all(|s| s.span.name == "SELECT"), "{spans:?}");
    assert!(
        proxy.log().contains("3 exported, 0 dropped"),
        "{}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_collector_over_http_protobuf_with_a_client_certificate() {
    let cluster = Cluster::start();
    let (ca, tls, client) = https_ca();
    let receiver = Receiver::start_tls(Transport::Http, &tls);
    let ca_pem = ca.cert();
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", text(&ca_pem)),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", text(&client.cert)),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", text(&client.key)),
    ];
    let proxy = a_select_span_arrives(&cluster, &receiver, &env).await;
    assert!(proxy
        .log()
        .contains(&format!("trusting {}", ca.cert().display())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_grpc_collector_with_the_traces_variables_winning() {
    let cluster = Cluster::start();
    let (ca, tls, client) = https_ca();
    let receiver = Receiver::start_tls(Transport::Grpc, &tls);
    let ca_pem = ca.cert();
    // The generic variables name files that do not exist: read, they would stop pgscope.
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "/nonexistent/c.pem",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/nonexistent/c.key"),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", text(&ca_pem)),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            text(&client.cert),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", text(&client.key)),
    ];
    a_select_span_arrives(&cluster, &receiver, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_collector_with_an_untrusted_certificate_gets_no_span() {
    let cluster = Cluster::start();
    let trusted = TestCa::new("trusted CA");
    let other = TestCa::new("other CA");
    let receiver = Receiver::start_tls(
        Transport::Grpc,
        &ServerTls::new(other.server("collector", &["127.0.0.1"])),
    );
    let trusted_pem = trusted.cert();
    let env = [
        QUICK,
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", text(&trusted_pem)),
    ];
    let proxy = TracedProxy::start(&cluster, &config_for(&receiver), &env);
    let client = connect(&proxy).await;
    client.query_one("SELECT 1 AS one", &[]).await.unwrap();
    let failed = "pgscope_spans_dropped_total{reason=\"export_failed\"}";
    let deadline = std::time::Instant::now() + ARRIVAL;
    while proxy.metric(failed) < Some(1.0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(proxy.metric(failed), Some(1.0), "{}", proxy.log());
    assert!(receiver.spans().is_empty());
    assert!(receiver.refused_handshakes() >= 1, "{}", proxy.log());
}

#[test]
fn a_bad_tls_file_stops_pgscope_at_start_naming_it() {
    let cluster = Cluster::start();
    let config = "[tracing]\nenabled = true\nendpoint = \"https://127.0.0.1:1\"\n";
    let (status, printed) = TracedProxy::start_failure(
        &cluster,
        config,
        &[(
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/pgscope-ca.pem",
        )],
    );
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains("OTEL_EXPORTER_OTLP_CERTIFICATE")
            && printed.contains("/nonexistent/pgscope-ca.pem"),
        "{printed}"
    );
    // A client key that is not the certificate's.
    let ca = TestCa::new("pgscope otlp test CA");
    let (one, two) = (ca.client("one", "one"), ca.client("two", "two"));
    let ca_pem = ca.cert();
    let (status, printed) = TracedProxy::start_failure(
        &cluster,
        config,
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", text(&ca_pem)),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", text(&one.cert)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", text(&two.key)),
        ],
    );
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains(text(&two.key)) && printed.contains("does not go with"),
        "{printed}"
    );
}
