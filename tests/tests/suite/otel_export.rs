//! pgscope's own OTLP export against the OpenTelemetry SDK's: the same spans made once by
//! pgscope's pipeline (`pgscope_otel::Tracing`: its emitter, the SDK's batch processor, its
//! own prost-encoded OTLP exporter) and once by the SDK's tracer and its `opentelemetry-otlp`
//! exporter, each sent to a real OTLP receiver, must decode to the same spans — names, kinds,
//! parent linkage, flags, trace state, times, attributes of every value type, status, resource
//! and scope — over both transports. Span ids are random on both sides; they are checked for
//! shape and linkage, then set aside.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use pgscope_otel::{
    FinishedSpan, Protocol, SpanCounters, TraceOptions, TraceSettings, Tracing, SCOPE_NAME,
};

use crate::otel::otlp::receiver::Transport;
use crate::otel::otlp::{ReceivedSpan, Receiver};

/// How long the spans may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(20);

/// One span as both sides are asked to make it.
struct TestSpan {
    name: &'static str,
    parent: Context,
    attributes: Vec<KeyValue>,
    status: Status,
    offset_ms: u64,
}

fn remote_parent(sampled: bool, state: &[(&str, &str)]) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::from_key_value(state.iter().copied()).unwrap(),
    ))
}

/// A root span, a child of a sampled remote parent with a trace state, a failed and an ok
/// one, and a child of a parent that was not sampled (which neither side may export).
fn test_spans() -> Vec<TestSpan> {
    let every_type = vec![
        KeyValue::new("db.system.name", "postgresql"),
        KeyValue::new("db.query.text", "SELECT * FROM t WHERE id = $1"),
        KeyValue::new("db.response.returned_rows", 7_i64),
        KeyValue::new("pgscope.batched", true),
        KeyValue::new("pgscope.ratio", 0.25_f64),
        KeyValue::new(
            "pgscope.tables",
            opentelemetry::Value::Array(
                vec![
                    opentelemetry::StringValue::from("public.t"),
                    "public.u".into(),
                ]
                .into(),
            ),
        ),
        KeyValue::new(
            "pgscope.ports",
            opentelemetry::Value::Array(vec![5432_i64, 6432].into()),
        ),
    ];
    vec![
        TestSpan {
            name: "SELECT t",
            parent: Context::new(),
            attributes: every_type.clone(),
            status: Status::Unset,
            offset_ms: 0,
        },
        TestSpan {
            name: "SELECT child",
            parent: remote_parent(true, &[("congo", "t61rcWkgMzE")]),
            attributes: every_type,
            status: Status::Ok,
            offset_ms: 5,
        },
        TestSpan {
            name: "INSERT t",
            parent: remote_parent(true, &[]),
            attributes: vec![KeyValue::new("db.response.status_code", "23505")],
            status: Status::error("SQLSTATE 23505"),
            offset_ms: 9,
        },
        TestSpan {
            name: "UPDATE unsampled",
            parent: remote_parent(false, &[]),
            attributes: Vec::new(),
            status: Status::Unset,
            offset_ms: 12,
        },
    ]
}

fn times(span: &TestSpan) -> (SystemTime, SystemTime) {
    let start = SystemTime::UNIX_EPOCH
        + Duration::from_secs(1_700_000_000)
        + Duration::from_millis(span.offset_ms);
    (start, start + Duration::from_micros(1234))
}

fn settings(receiver: &Receiver, protocol: Protocol) -> TraceSettings {
    let options = TraceOptions {
        endpoint: Some(receiver.endpoint()),
        protocol: Some(protocol),
        service_name: Some("pgscope-equivalence".to_owned()),
        ..TraceOptions::default()
    };
    let env = [
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test,team=data%20platform",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme%20corp"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    TraceSettings::resolve(&options, env).unwrap()
}

/// The spans made and exported by pgscope's pipeline.
fn export_with_pgscope(settings: &TraceSettings) {
    let counters = Arc::new(SpanCounters::default());
    let tracing = Tracing::start(settings, Arc::clone(&counters)).unwrap();
    let emitter = tracing.emitter();
    for span in test_spans() {
        let Some(sampled) = emitter.sample(&span.parent, span.name, SpanKind::Client, &[]) else {
            continue;
        };
        let (start, end) = times(&span);
        emitter.end(
            sampled,
            FinishedSpan {
                name: span.name.into(),
                start,
                end,
                attributes: span.attributes,
                status: span.status,
            },
        );
    }
    tracing.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(counters.exported(), 3, "{counters:?}");
}

/// Collects what the SDK's tracer ends.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

/// The same spans made by the SDK's tracer (same sampler, resource and scope) and sent by
/// the SDK's OTLP exporter.
fn export_with_the_sdk(settings: &TraceSettings, receiver: &Receiver) {
    let collect = Collect::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(pgscope_otel::sampler(settings.sampler))
        .with_simple_exporter(collect.clone())
        .build();
    let tracer = provider.tracer_with_scope(
        opentelemetry::InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    for span in test_spans() {
        let (start, end) = times(&span);
        let mut made = tracer
            .span_builder(span.name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(span.attributes)
            .start_with_context(&tracer, &span.parent);
        made.set_status(span.status);
        made.end_with_timestamp(end);
    }
    let batch = std::mem::take(&mut *collect.0.lock().unwrap());
    let resource = settings.otel_resource();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let mut exporter = match receiver.transport() {
            Transport::Http => builder
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/traces", receiver.endpoint()))
                .with_headers(HashMap::from([(
                    "x-tenant".to_owned(),
                    "acme corp".to_owned(),
                )]))
                .build(),
            Transport::Grpc => builder
                .with_tonic()
                .with_endpoint(receiver.endpoint())
                .build(),
        }
        .unwrap();
        exporter.set_resource(&resource);
        exporter.export(batch).await.unwrap();
    });
}

fn by_name(spans: Vec<ReceivedSpan>) -> HashMap<String, ReceivedSpan> {
    spans
        .into_iter()
        .map(|span| (span.span.name.clone(), span))
        .collect()
}

fn sorted(mut attributes: Vec<ProtoKeyValue>) -> Vec<ProtoKeyValue> {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    attributes
}

/// The span with its random ids set aside, after checking their shape and linkage.
fn without_ids(span: &ProtoSpan) -> ProtoSpan {
    assert_eq!(span.trace_id.len(), 16, "{span:?}");
    assert_eq!(span.span_id.len(), 8, "{span:?}");
    assert!(span.span_id.iter().any(|b| *b != 0), "{span:?}");
    if span.parent_span_id.is_empty() {
        return ProtoSpan {
            trace_id: Vec::new(),
            span_id: Vec::new(),
            ..span.clone()
        };
    }
    assert_eq!(hex(&span.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex(&span.parent_span_id), "b7ad6b7169203331");
    ProtoSpan {
        span_id: Vec::new(),
        ..span.clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn compare(transport: Transport) {
    let ours = Receiver::start(transport);
    let sdk = Receiver::start(transport);
    let protocol = match transport {
        Transport::Http => Protocol::HttpProtobuf,
        Transport::Grpc => Protocol::Grpc,
    };
    export_with_pgscope(&settings(&ours, protocol));
    export_with_the_sdk(&settings(&sdk, protocol), &sdk);
    let ours = by_name(ours.wait_for(3, ARRIVAL, |_| true));
    let sdk = by_name(sdk.wait_for(3, ARRIVAL, |_| true));
    let mut names: Vec<&String> = sdk.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["INSERT t", "SELECT child", "SELECT t"],
        "the SDK exports the sampled spans only"
    );
    assert_eq!(ours.len(), 3, "{transport:?}: {:?}", ours.keys());
    for (name, expected) in &sdk {
        let got = ours
            .get(name)
            .unwrap_or_else(|| panic!("{transport:?}: no span {name:?} from pgscope"));
        assert_eq!(
            without_ids(&got.span),
            without_ids(&expected.span),
            "{transport:?}: {name}"
        );
        assert_eq!(
            sorted(got.resource.clone()),
            sorted(expected.resource.clone()),
            "{transport:?}: resource"
        );
        assert_eq!(got.scope, expected.scope, "{transport:?}: scope");
        assert!(
            got.headers
                .iter()
                .any(|(name, value)| name == "x-tenant" && value == "acme corp"),
            "{transport:?}: the OTEL_EXPORTER_OTLP_HEADERS header: {:?}",
            got.headers
        );
    }
}

#[test]
fn exported_spans_decode_to_what_the_sdk_sends_over_http_protobuf() {
    compare(Transport::Http);
}

#[test]
fn exported_spans_decode_to_what_the_sdk_sends_over_grpc() {
    compare(Transport::Grpc);
}
