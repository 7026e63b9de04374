//! Settings resolution, the bounded queue's accounting, and export failures counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn resolve(options: &TraceOptions, pairs: &[(&str, &str)]) -> TraceSettings {
    TraceSettings::resolve(options, env(pairs)).unwrap_or_else(|err| panic!("{err}"))
}

fn resolve_err(pairs: &[(&str, &str)]) -> String {
    match TraceSettings::resolve(&TraceOptions::default(), env(pairs)) {
        Ok(settings) => panic!("expected an error, got {settings:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn nothing_set_gives_the_opentelemetry_defaults() {
    let settings = resolve(&TraceOptions::default(), &[("PATH", "/bin")]);
    assert_eq!(settings.protocol, Protocol::HttpProtobuf);
    assert_eq!(settings.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(settings.service_name, "pgscope");
    assert_eq!(settings.sampler, SamplerSpec::ParentBasedAlwaysOn);
    assert_eq!(settings.queue_size, 2048);
    assert_eq!(settings.batch_size, 512);
    assert_eq!(settings.batch_delay, Duration::from_secs(5));
    assert_eq!(settings.export_timeout, Duration::from_secs(10));
    assert!(settings.resource.is_empty());
}

#[test]
fn standard_variables_configure_exporter_sampler_and_queue() {
    let settings = resolve(
        &TraceOptions::default(),
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_SERVICE_NAME", "db-proxy"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=data%20platform",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    assert_eq!(settings.protocol, Protocol::Grpc);
    assert_eq!(settings.endpoint, "http://collector:4317");
    assert_eq!(settings.export_timeout, Duration::from_millis(2500));
    assert_eq!(settings.service_name, "db-proxy");
    assert_eq!(
        settings.resource,
        vec![
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "data platform".to_owned()),
        ]
    );
    assert_eq!(settings.sampler, SamplerSpec::ParentBasedRatio(0.01));
    assert_eq!(settings.queue_size, 100);
    // A batch never exceeds the queue.
    assert_eq!(settings.batch_size, 100);
    assert_eq!(settings.batch_delay, Duration::from_millis(200));
}

#[test]
fn http_base_endpoint_gets_the_traces_path_and_signal_endpoint_is_used_as_is() {
    let base = resolve(
        &TraceOptions::default(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
    );
    assert_eq!(base.endpoint, "http://collector:4318/v1/traces");
    let signal = resolve(
        &TraceOptions::default(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:9999/custom",
            ),
        ],
    );
    assert_eq!(signal.endpoint, "http://collector:9999/custom");
    let grpc = resolve(
        &TraceOptions::default(),
        &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")],
    );
    assert_eq!(grpc.endpoint, "http://localhost:4317");
}

#[test]
fn pgscope_options_win_over_otel_variables() {
    let options = TraceOptions {
        endpoint: Some("http://mine:4318".to_owned()),
        protocol: Some(Protocol::HttpProtobuf),
        service_name: Some("pgscope-a".to_owned()),
        sample_ratio: Some(0.5),
        queue_size: Some(64),
        export_timeout: Some(Duration::from_secs(1)),
    };
    let settings = resolve(
        &options,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://theirs:4317"),
            ("OTEL_SERVICE_NAME", "theirs"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "9"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "9"),
        ],
    );
    assert_eq!(settings.protocol, Protocol::HttpProtobuf);
    assert_eq!(settings.endpoint, "http://mine:4318/v1/traces");
    assert_eq!(settings.service_name, "pgscope-a");
    assert_eq!(settings.sampler, SamplerSpec::ParentBasedRatio(0.5));
    assert_eq!(settings.queue_size, 64);
    assert_eq!(settings.export_timeout, Duration::from_secs(1));
}

#[test]
fn service_name_falls_back_to_resource_attributes() {
    let settings = resolve(
        &TraceOptions::default(),
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-resource,zone=a",
        )],
    );
    assert_eq!(settings.service_name, "from-resource");
    assert_eq!(settings.resource, vec![("zone".to_owned(), "a".to_owned())]);
}

#[test]
fn every_sampler_name_is_understood_and_a_missing_ratio_means_one() {
    let cases = [
        ("always_on", SamplerSpec::AlwaysOn),
        ("always_off", SamplerSpec::AlwaysOff),
        ("traceidratio", SamplerSpec::Ratio(1.0)),
        ("parentbased_always_on", SamplerSpec::ParentBasedAlwaysOn),
        ("parentbased_always_off", SamplerSpec::ParentBasedAlwaysOff),
        (
            "PARENTBASED_TRACEIDRATIO",
            SamplerSpec::ParentBasedRatio(1.0),
        ),
    ];
    for (name, expected) in cases {
        let settings = resolve(&TraceOptions::default(), &[("OTEL_TRACES_SAMPLER", name)]);
        assert_eq!(settings.sampler, expected, "{name}");
    }
}

#[test]
fn empty_variables_count_as_unset() {
    let settings = resolve(
        &TraceOptions::default(),
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", ""),
            ("OTEL_TRACES_SAMPLER", " "),
        ],
    );
    assert_eq!(settings.protocol, Protocol::HttpProtobuf);
    assert_eq!(settings.sampler, SamplerSpec::ParentBasedAlwaysOn);
}

#[test]
fn malformed_variables_are_errors_naming_them() {
    let cases = [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "http/protobuf or grpc",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "http:// or https://",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "milliseconds"),
        (
            "OTEL_TRACES_SAMPLER",
            "sometimes",
            "parentbased_traceidratio",
        ),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "at least 1"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue", "key=value"),
        // A value must percent-decode to UTF-8, as the headers' must.
        ("OTEL_RESOURCE_ATTRIBUTES", "team=%FF", "key=value"),
    ];
    for (name, value, expected) in cases {
        let message = resolve_err(&[(name, value)]);
        assert!(message.contains(name), "{message}");
        assert!(message.contains(&format!("{value:?}")), "{message}");
        assert!(message.contains(expected), "{name}: {message}");
    }
    let message = resolve_err(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ]);
    assert!(message.contains("OTEL_TRACES_SAMPLER_ARG"), "{message}");
}

/// An exporter that keeps what it is given, or fails every export; it can be held shut to
/// stand for a collector that does not answer.
#[derive(Debug, Clone, Default)]
struct TestExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
    fail: bool,
    hold: Arc<AtomicBool>,
    counters: Arc<SpanCounters>,
    service_name: Arc<Mutex<Option<String>>>,
}

impl SpanExporter for TestExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        while self.hold.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let n = batch.len() as u64;
        self.counters.settle(n, !self.fail);
        let result = if self.fail {
            Err(OTelSdkError::InternalFailure("refused".to_owned()))
        } else {
            self.spans.lock().unwrap().extend(batch);
            Ok(())
        };
        std::future::ready(result)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        let name = resource.get(&opentelemetry::Key::from_static_str("service.name"));
        *self.service_name.lock().unwrap() = name.map(|value| value.to_string());
    }
}

fn settings(queue_size: usize) -> TraceSettings {
    let mut settings = resolve(&TraceOptions::default(), &[]);
    settings.queue_size = queue_size;
    settings.batch_size = queue_size;
    settings.batch_delay = Duration::from_millis(10);
    settings
}

fn end_spans(tracing: &Tracing, n: usize) {
    let emitter = tracing.emitter();
    for _ in 0..n {
        let Some(span) = emitter.sample(&Context::new(), "SELECT t", SpanKind::Client, &[]) else {
            continue;
        };
        let now = SystemTime::now();
        emitter.end(
            span,
            FinishedSpan {
                name: "SELECT t".into(),
                start: now,
                end: now,
                attributes: vec![KeyValue::new("db.system.name", "postgresql")],
                status: Status::Unset,
            },
        );
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let counters = Arc::new(SpanCounters::default());
    let exporter = TestExporter {
        counters: Arc::clone(&counters),
        ..TestExporter::default()
    };
    exporter.hold.store(true, Ordering::Release);
    let tracing = Tracing::with_exporter(&settings(8), Arc::clone(&counters), exporter.clone());
    end_spans(&tracing, 50);
    assert_eq!(counters.queued(), 8);
    assert_eq!(counters.dropped_queue_full(), 42);
    exporter.hold.store(false, Ordering::Release);
    tracing.force_flush().unwrap();
    assert_eq!(counters.exported(), 8);
    assert_eq!(counters.queued(), 0);
    assert_eq!(exporter.spans.lock().unwrap().len(), 8);
    // Room again: the next spans go through.
    end_spans(&tracing, 3);
    tracing.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(counters.exported(), 11);
    assert_eq!(counters.dropped(), 42);
}

#[test]
fn failed_exports_are_counted_as_drops() {
    let counters = Arc::new(SpanCounters::default());
    let exporter = TestExporter {
        counters: Arc::clone(&counters),
        fail: true,
        ..TestExporter::default()
    };
    let tracing = Tracing::with_exporter(&settings(100), Arc::clone(&counters), exporter);
    end_spans(&tracing, 5);
    assert!(tracing.force_flush().is_err());
    assert_eq!(counters.dropped_export_failed(), 5);
    assert_eq!(counters.exported(), 0);
    assert_eq!(counters.queued(), 0);
}

#[test]
fn sampled_out_spans_never_reach_the_queue() {
    let counters = Arc::new(SpanCounters::default());
    let exporter = TestExporter {
        counters: Arc::clone(&counters),
        ..TestExporter::default()
    };
    let mut off = settings(100);
    off.sampler = SamplerSpec::AlwaysOff;
    let tracing = Tracing::with_exporter(&off, Arc::clone(&counters), exporter.clone());
    end_spans(&tracing, 20);
    tracing.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        counters.exported() + counters.dropped() + counters.queued(),
        0
    );
    assert!(exporter.spans.lock().unwrap().is_empty());
}

/// A pipeline that exports only when flushed (its batch delay is an hour), its exporter
/// counting into `counters`.
fn flush_only_pipeline() -> (Tracing, TestExporter, Arc<SpanCounters>) {
    let counters = Arc::new(SpanCounters::default());
    let exporter = TestExporter {
        counters: Arc::clone(&counters),
        ..TestExporter::default()
    };
    let mut slow = settings(100);
    slow.batch_delay = Duration::from_secs(3600);
    let tracing = Tracing::with_exporter(&slow, Arc::clone(&counters), exporter.clone());
    (tracing, exporter, counters)
}

#[test]
fn shutdown_exports_what_is_still_queued() {
    let (tracing, exporter, counters) = flush_only_pipeline();
    end_spans(&tracing, 7);
    assert_eq!(counters.exported(), 0);
    tracing.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(exporter.spans.lock().unwrap().len(), 7);
    assert_eq!(counters.exported(), 7);
}

#[test]
fn otlp_export_to_a_closed_port_drops_and_counts_for_both_protocols() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let options = TraceOptions {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            protocol: Some(protocol),
            export_timeout: Some(Duration::from_secs(2)),
            ..TraceOptions::default()
        };
        let settings = resolve(&options, &[]);
        let counters = Arc::new(SpanCounters::default());
        let tracing = Tracing::start(&settings, Arc::clone(&counters))
            .unwrap_or_else(|err| panic!("{protocol:?}: {err}"));
        end_spans(&tracing, 4);
        assert!(tracing.force_flush().is_err(), "{protocol:?}");
        assert_eq!(counters.dropped_export_failed(), 4, "{protocol:?}");
        assert_eq!(counters.queued(), 0, "{protocol:?}");
        let _ = tracing.shutdown(Duration::from_secs(2));
    }
}

#[test]
fn an_emitted_span_is_what_the_sdk_tracer_makes_of_the_same_span() {
    use opentelemetry::trace::{
        Span as _, SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
        Tracer as _, TracerProvider as _,
    };
    let parent = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("congo", "t61rcWkgMzE")]).unwrap(),
    ));
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let end = start + Duration::from_millis(3);
    let attributes = vec![
        KeyValue::new("db.system.name", "postgresql"),
        KeyValue::new("db.response.returned_rows", 7),
    ];
    let status = Status::error("SQLSTATE 42P01");

    let sdk_spans = Arc::new(Mutex::new(Vec::new()));
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(TestExporter {
            spans: Arc::clone(&sdk_spans),
            ..TestExporter::default()
        })
        .build();
    let tracer = provider.tracer_with_scope(
        opentelemetry::InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let mut span = tracer
        .span_builder("SELECT t")
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes(attributes.clone())
        .start_with_context(&tracer, &parent);
    span.set_status(status.clone());
    span.end_with_timestamp(end);
    let expected = sdk_spans.lock().unwrap().pop().expect("the SDK's span");

    let exporter = TestExporter::default();
    let tracing = Tracing::with_exporter(
        &settings(10),
        Arc::new(SpanCounters::default()),
        exporter.clone(),
    );
    let emitter = tracing.emitter();
    let sampled = emitter
        .sample(&parent, "SELECT t", SpanKind::Client, &[])
        .expect("a sampled parent's child is sampled");
    emitter.end(
        sampled,
        FinishedSpan {
            name: "SELECT t".into(),
            start,
            end,
            attributes,
            status,
        },
    );
    tracing.shutdown(Duration::from_secs(5)).unwrap();
    let ours = exporter
        .spans
        .lock()
        .unwrap()
        .pop()
        .expect("the emitted span");

    // Span ids are random; everything else must agree.
    assert_ne!(ours.span_context.span_id(), expected.span_context.span_id());
    let same_id = SpanContext::new(
        ours.span_context.trace_id(),
        expected.span_context.span_id(),
        ours.span_context.trace_flags(),
        ours.span_context.is_remote(),
        ours.span_context.trace_state().clone(),
    );
    assert_eq!(
        SpanData {
            span_context: same_id,
            ..ours
        },
        expected
    );
    assert_eq!(
        exporter.service_name.lock().unwrap().as_deref(),
        Some("pgscope"),
        "the exporter gets the resource"
    );
}

#[test]
fn after_shutdown_nothing_is_sampled_and_a_second_shutdown_fails() {
    let tracing = Tracing::with_exporter(
        &settings(10),
        Arc::new(SpanCounters::default()),
        TestExporter::default(),
    );
    assert!(tracing
        .emitter()
        .sample(&Context::new(), "SELECT t", SpanKind::Client, &[])
        .is_some());
    tracing.shutdown(Duration::from_secs(5)).unwrap();
    assert!(tracing
        .emitter()
        .sample(&Context::new(), "SELECT t", SpanKind::Client, &[])
        .is_none());
    assert!(tracing.shutdown(Duration::from_secs(5)).is_err());
}

#[test]
fn dropping_the_pipeline_without_shutdown_still_exports_the_queue() {
    let (tracing, exporter, counters) = flush_only_pipeline();
    end_spans(&tracing, 4);
    drop(tracing);
    assert_eq!(exporter.spans.lock().unwrap().len(), 4);
    assert_eq!(counters.exported(), 4);
}

#[test]
fn export_headers_come_from_the_traces_variable_first_and_never_show_their_values() {
    let settings = resolve(
        &TraceOptions::default(),
        &[
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "Authorization=Bearer%20s3cret, x-tenant = acme",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ],
    );
    assert_eq!(
        settings.headers.0,
        vec![
            ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("x-tenant".to_owned(), "acme".to_owned()),
        ]
    );
    let shown = format!("{settings:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("Authorization"), "{shown}");
}

#[test]
fn a_malformed_header_list_or_gzip_is_an_error_naming_the_variable() {
    let err = resolve_err(&[("OTEL_EXPORTER_OTLP_HEADERS", "token=s3cret,nonsense")]);
    assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let err = resolve_err(&[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")]);
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"),
        "{err}"
    );
}
