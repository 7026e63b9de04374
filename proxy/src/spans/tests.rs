//! The span of a query: its name, attributes, status, times and parent, and what is not
//! exported (skipped requests, sampled-out roots, unsampled parents).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{SpanKind, Status, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use pgscope_config::{TracingConfig, Upstream};
use pgscope_otel::{SamplerSpec, SpanCounters, TraceOptions, TraceSettings, Tracing};

use super::*;
use crate::clock::WallClock;
use crate::observer::{ConnectionInfo, Protocol, Statement};
use crate::recorder::RecorderSettings;
use crate::shape::Shapes;

/// Keeps every exported span (the clock tests use it too).
#[derive(Debug, Clone, Default)]
pub(super) struct Collect(pub(super) Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

struct Harness {
    tracing: Tracing,
    observer: SpanObserver,
    spans: Collect,
}

impl Harness {
    fn new(sampler: SamplerSpec) -> Harness {
        Harness::with_text_limit(sampler, RecorderSettings::default().max_query_text)
    }

    /// A harness whose spans cut `db.query.text` to `max_text` bytes.
    fn with_text_limit(sampler: SamplerSpec, max_text: usize) -> Harness {
        let mut settings = TraceSettings::resolve(&TraceOptions::default(), Vec::new()).unwrap();
        settings.sampler = sampler;
        let spans = Collect::default();
        let tracing =
            Tracing::with_exporter(&settings, Arc::new(SpanCounters::default()), spans.clone());
        let observer = SpanObserver::new(
            tracing.emitter().clone(),
            server("db.internal:5433"),
            Arc::new(Shapes::new(100, max_text)),
            Arc::new(WallClock::new()),
        );
        Harness {
            tracing,
            observer,
            spans,
        }
    }

    /// Records `queries` and returns the exported spans.
    fn run(self, queries: &[QueryFinished]) -> Vec<SpanData> {
        for query in queries {
            self.observer.observe(&Event::QueryFinished(query.clone()));
        }
        self.tracing.shutdown(Duration::from_secs(5)).unwrap();
        let spans = self.spans.0.lock().unwrap().clone();
        spans
    }
}

fn query(sql: &str, outcome: Outcome, rows: Option<u64>) -> QueryFinished {
    let finished = Instant::now();
    QueryFinished {
        connection: Arc::new(ConnectionInfo {
            database: "shop".into(),
            user: "app".into(),
            application_name: "checkout".into(),
            capture: None,
        }),
        statement: Statement::new(sql),
        protocol: Protocol::Extended,
        started: finished - Duration::from_millis(30),
        finished,
        rows,
        command: "SELECT".into(),
        outcome,
        batched: false,
        batch: None,
    }
}

/// The server of the upstream `host:port`.
fn server(upstream: &str) -> ServerAddress {
    let (host, port) = upstream.rsplit_once(':').unwrap();
    ServerAddress::of(&Upstream::tcp(host, port.parse().unwrap()))
}

fn attributes(span: &SpanData) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.clone()))
        .collect()
}

fn text(value: &str) -> Value {
    Value::from(value.to_owned())
}

#[test]
fn a_select_gets_every_semantic_convention_attribute() {
    let spans = Harness::new(SamplerSpec::ParentBasedAlwaysOn).run(&[query(
        "SELECT name FROM users WHERE id = 42",
        Outcome::Ok,
        Some(1),
    )]);
    let [span] = spans.as_slice() else {
        panic!("expected one span, got {spans:?}")
    };
    assert_eq!(span.name, "SELECT users");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status, Status::Unset);
    let attrs = attributes(span);
    let fingerprint = pgscope_fingerprint::analyze("SELECT name FROM users WHERE id = 42")
        .fingerprint
        .to_string();
    let expected: HashMap<String, Value> = [
        ("db.system.name", text("postgresql")),
        ("db.namespace", text("shop")),
        ("db.operation.name", text("SELECT")),
        ("db.collection.name", text("users")),
        ("db.query.summary", text("SELECT users")),
        (
            "db.query.text",
            text("select name from users where id = $1"),
        ),
        ("server.address", text("db.internal")),
        ("server.port", Value::I64(5433)),
        ("db.response.returned_rows", Value::I64(1)),
        ("pgscope.fingerprint", text(&fingerprint)),
        ("pgscope.application_name", text("checkout")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(attrs, expected);
    assert!(
        !attrs.values().any(|v| v.as_str().contains("42")),
        "a literal leaked"
    );
}

#[test]
fn the_span_covers_the_measured_interval() {
    let q = query("SELECT 1", Outcome::Ok, Some(1));
    let before = SystemTime::now();
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[q]);
    let span = &spans[0];
    let took = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        (Duration::from_millis(29)..Duration::from_millis(31)).contains(&took),
        "{took:?}"
    );
    assert!(span.end_time <= SystemTime::now());
    assert!(span.start_time <= before);
    assert!(before.duration_since(span.start_time).unwrap() < Duration::from_secs(5));
}

#[test]
fn an_error_sets_the_sqlstate_and_the_error_status() {
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[query(
        "SELECT * FROM missing_table",
        Outcome::Error {
            sqlstate: *b"42P01",
        },
        None,
    )]);
    let span = &spans[0];
    assert_eq!(span.status, Status::error("SQLSTATE 42P01"));
    let attrs = attributes(span);
    assert_eq!(attrs["error.type"], text("42P01"));
    assert_eq!(attrs["db.response.status_code"], text("42P01"));
    assert!(!attrs.contains_key("db.response.returned_rows"));
}

#[test]
fn the_fullest_span_fits_its_attribute_vector_as_allocated() {
    // Every optional attribute at once: one table, a summary, returned and affected rows, an
    // error, batched, an application.
    let mut q = query(
        "UPDATE missing_table SET a = 1 RETURNING a",
        Outcome::Error {
            sqlstate: *b"42P01",
        },
        Some(3),
    );
    q.command = "UPDATE".into();
    q.batched = true;
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[q]);
    let attributes = &spans[0].attributes;
    assert_eq!(attributes.len(), 15);
    assert_eq!(attributes.capacity(), 15, "the vector never grew");
    // ... and the allocation stays on mimalloc's small-object path.
    assert!(std::mem::size_of::<opentelemetry::KeyValue>() * attributes.capacity() <= 1024);
}

#[test]
fn skipped_requests_get_a_span_marked_skipped() {
    let spans =
        Harness::new(SamplerSpec::AlwaysOn).run(&[query("SELECT 1", Outcome::Skipped, None)]);
    let [span] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(attributes(span)["pgscope.skipped"], Value::Bool(true));
    assert_eq!(span.status, Status::Unset);
}

#[test]
fn batched_statements_are_marked_and_others_are_not() {
    let mut batched = query("SELECT 1", Outcome::Ok, Some(1));
    batched.batched = true;
    batched.batch = Some(crate::observer::Batch {
        duration: std::time::Duration::from_millis(250),
        statements: 2,
    });
    let alone = query("SELECT 2", Outcome::Ok, Some(1));
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[batched, alone]);
    let batched = attributes(&spans[0]);
    assert_eq!(batched["pgscope.batched"], Value::Bool(true));
    assert_eq!(batched["pgscope.batch.duration"], Value::F64(0.25));
    assert_eq!(batched["pgscope.batch.statements"], Value::I64(2));
    let alone = attributes(&spans[1]);
    assert!(!alone.contains_key("pgscope.batched"));
    assert!(!alone.contains_key("pgscope.batch.duration"));
}

#[test]
fn written_rows_are_affected_rows_and_only_rows_sent_are_returned_rows() {
    let mut update = query("UPDATE t SET a = 1 WHERE id = 2", Outcome::Ok, Some(4));
    update.command = "UPDATE".into();
    let mut returning = query(
        "DELETE FROM t WHERE id = 2 RETURNING id",
        Outcome::Ok,
        Some(1),
    );
    returning.command = "DELETE".into();
    let mut copy_in = query("COPY t FROM STDIN", Outcome::Ok, Some(9));
    copy_in.command = "COPY".into();
    let mut copy_out = query("COPY t TO STDOUT", Outcome::Ok, Some(7));
    copy_out.command = "COPY".into();
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[update, returning, copy_in, copy_out]);
    let rows = |span: &SpanData| {
        let attrs = attributes(span);
        (
            attrs.get("db.response.returned_rows").cloned(),
            attrs.get("pgscope.affected_rows").cloned(),
        )
    };
    assert_eq!(rows(&spans[0]), (None, Some(Value::I64(4))));
    assert_eq!(rows(&spans[1]), (Some(Value::I64(1)), Some(Value::I64(1))));
    assert_eq!(rows(&spans[2]), (None, Some(Value::I64(9))));
    assert_eq!(rows(&spans[3]), (Some(Value::I64(7)), None));
}

#[test]
fn the_sampler_gets_the_conventions_sampling_attributes_at_span_start() {
    let q = query("SELECT name FROM users WHERE id = 42", Outcome::Ok, Some(1));
    let shape = Shapes::new(10, 4096).analyze(&q.statement.text);
    let server = server("db.internal:5433").attributes();
    let at_start = attributes::at_start(&q, &shape.span, &server);
    let keys: Vec<&str> = at_start.iter().map(|kv| kv.key.as_str()).collect();
    for key in [
        "db.namespace",
        "db.query.summary",
        "db.query.text",
        "server.address",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert!(!keys
        .iter()
        .any(|k| k.starts_with("db.response") || *k == "error.type"));
}

#[test]
fn names_fall_back_from_summary_to_operation_to_postgresql() {
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[
        query("COPY items FROM STDIN", Outcome::Ok, Some(3)),
        query("", Outcome::Ok, None),
    ]);
    assert_eq!(spans[0].name, "COPY items");
    assert_eq!(attributes(&spans[0])["db.collection.name"], text("items"));
    assert_eq!(
        attributes(&spans[0])["db.response.returned_rows"],
        Value::I64(3)
    );
    assert_eq!(spans[1].name, "postgresql");
    assert!(!attributes(&spans[1]).contains_key("db.operation.name"));
    assert!(!attributes(&spans[1]).contains_key("db.query.summary"));
}

#[test]
fn a_sqlcommenter_traceparent_makes_the_span_its_child() {
    let sql = "SELECT 1 /*db_driver='psycopg',\
               traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',\
               tracestate='congo%3Dt61rcWkgMzE'*/";
    // Even a sampler that drops every root keeps a child of a sampled parent.
    let spans =
        Harness::new(SamplerSpec::ParentBasedAlwaysOff).run(&[query(sql, Outcome::Ok, Some(1))]);
    let [span] = spans.as_slice() else {
        panic!("expected one span, got {spans:?}")
    };
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
    assert!(span.parent_span_is_remote);
    assert_eq!(
        span.span_context.trace_state().get("congo"),
        Some("t61rcWkgMzE")
    );
}

#[test]
fn the_python_instrumentation_comment_with_unquoted_values_is_understood() {
    // As opentelemetry-instrumentation-psycopg writes it, W3C flags `03` included.
    let sql = "SELECT name FROM users WHERE id = $1 /*db_driver='psycopg%3A3.3.9',\
               dbapi_level='2.0',dbapi_threadsafety=2,driver_paramstyle='pyformat',\
               libpq_version=180006,\
               traceparent='00-2f74c04a3b97c9896e7238cf7a9e2a7b-00616491dfb11f45-03'*/";
    let spans =
        Harness::new(SamplerSpec::ParentBasedAlwaysOff).run(&[query(sql, Outcome::Ok, Some(1))]);
    let [span] = spans.as_slice() else {
        panic!("expected one span, got {spans:?}")
    };
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("2f74c04a3b97c9896e7238cf7a9e2a7b").unwrap()
    );
    assert_eq!(span.parent_span_id.to_string(), "00616491dfb11f45");
    assert_eq!(
        attributes(span)["db.query.text"],
        text("select name from users where id = $1")
    );
}

#[test]
fn spans_that_touch_on_the_monotonic_clock_touch_when_exported() {
    let first = query("SELECT 1", Outcome::Ok, Some(1));
    let mut second = query("SELECT 2", Outcome::Ok, Some(1));
    second.started = first.finished;
    second.finished = first.finished + Duration::from_micros(1);
    let spans = Harness::new(SamplerSpec::AlwaysOn).run(&[first, second]);
    assert_eq!(spans[1].start_time, spans[0].end_time);
    assert_eq!(
        spans[1]
            .end_time
            .duration_since(spans[1].start_time)
            .unwrap(),
        Duration::from_micros(1)
    );
}

#[test]
fn an_unsampled_parent_or_a_sampled_out_root_exports_nothing() {
    let unsampled =
        "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'*/";
    let spans =
        Harness::new(SamplerSpec::ParentBasedAlwaysOn).run(&[query(unsampled, Outcome::Ok, None)]);
    assert!(spans.is_empty(), "{spans:?}");
    let spans = Harness::new(SamplerSpec::ParentBasedAlwaysOff).run(&[query(
        "SELECT 1",
        Outcome::Ok,
        None,
    )]);
    assert!(spans.is_empty(), "{spans:?}");
}

#[test]
fn a_malformed_traceparent_starts_a_root_span() {
    let sql = "SELECT 1 /*traceparent='00-nothex-01'*/";
    let spans =
        Harness::new(SamplerSpec::ParentBasedAlwaysOn).run(&[query(sql, Outcome::Ok, None)]);
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
}

#[test]
fn long_query_texts_are_cut_to_the_recorders_limit_by_the_recorders_rule() {
    let sql = format!("SELECT * FROM t WHERE {}", "ä_column = 1 AND ".repeat(400));
    let spans =
        Harness::with_text_limit(SamplerSpec::AlwaysOn, 100).run(&[query(&sql, Outcome::Ok, None)]);
    let text = attributes(&spans[0])["db.query.text"].as_str().into_owned();
    let analysis = pgscope_fingerprint::analyze(&sql);
    assert_eq!(text, crate::shape::cut(&analysis.normalized, 100));
    assert!(text.len() <= 100 && text.ends_with('…'), "{text}");
}

#[test]
fn server_address_is_what_the_pump_dials() {
    let cases = [
        (("127.0.0.1", 5432), "127.0.0.1", Some(5432)),
        (("::1", 6543), "::1", Some(6543)),
        (("db.internal", 5433), "db.internal", Some(5433)),
        (
            ("/var/run/postgresql", 5432),
            "/var/run/postgresql/.s.PGSQL.5432",
            None,
        ),
    ];
    for ((host, port_in), address, port) in cases {
        assert_eq!(
            ServerAddress::of(&Upstream::tcp(host, port_in)),
            ServerAddress {
                address: address.to_owned(),
                port
            },
            "{host}"
        );
    }
}

#[test]
fn tracing_off_constructs_nothing() {
    let export = SpanExport::start_with_env(
        &TracingConfig::default(),
        server("127.0.0.1:5432"),
        Arc::new(SpanCounters::default()),
        Arc::new(Shapes::new(10, 4096)),
        Arc::new(WallClock::new()),
        Vec::new(),
    )
    .unwrap();
    assert!(export.is_none());
}

#[test]
fn a_bad_otel_variable_fails_start_with_its_name() {
    let config = TracingConfig {
        enabled: true,
        ..TracingConfig::default()
    };
    let error = SpanExport::start_with_env(
        &config,
        server("127.0.0.1:5432"),
        Arc::new(SpanCounters::default()),
        Arc::new(Shapes::new(10, 4096)),
        Arc::new(WallClock::new()),
        vec![("OTEL_TRACES_SAMPLER".to_owned(), "often".to_owned())],
    )
    .unwrap_err();
    assert!(error.to_string().contains("OTEL_TRACES_SAMPLER"), "{error}");
}

#[test]
fn otel_sdk_disabled_or_traces_exporter_none_switch_configured_tracing_off() {
    let config = TracingConfig {
        enabled: true,
        ..TracingConfig::default()
    };
    for (name, value) in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        let export = SpanExport::start_with_env(
            &config,
            server("127.0.0.1:5432"),
            Arc::new(SpanCounters::default()),
            Arc::new(Shapes::new(10, 4096)),
            Arc::new(WallClock::new()),
            vec![(name.to_owned(), value.to_owned())],
        )
        .unwrap();
        assert!(export.is_none(), "{name}={value}");
    }
}

#[test]
fn a_shape_is_built_once_its_text_shared_with_the_recorders_and_the_cache_is_bounded() {
    let shapes = Shapes::new(32, 4096);
    let shape = shapes.analyze("SELECT name FROM users WHERE id = 1");
    assert!(Arc::ptr_eq(
        &shape,
        &shapes.analyze("SELECT name FROM users WHERE id = 2")
    ));
    let text = shape
        .span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "db.query.text")
        .map(|kv| kv.value.clone());
    assert_eq!(text, Some(Value::from(Arc::clone(&shape.info.query))));
    for i in 0..300 {
        shapes.analyze(&format!("SELECT c{i} FROM users"));
    }
    assert!(shapes.len() <= 32, "{} shapes kept", shapes.len());
}
