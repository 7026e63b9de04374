//! `proto::fill` reusing the previous batch's request makes exactly what a fresh request makes.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::proto;

fn span(name: &'static str, scope: &str, attributes: Vec<KeyValue>, status: Status) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("congo", "t61rcWkgMzE")]).unwrap(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: Cow::Borrowed(name),
        start_time: start,
        end_time: start + Duration::from_millis(2),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder(scope.to_owned()).build(),
    }
}

fn fresh(spans: &[SpanData], resource: &opentelemetry_sdk::Resource) -> ExportTraceServiceRequest {
    let mut request = ExportTraceServiceRequest::default();
    proto::fill(&mut request, spans, &proto::resource(resource));
    request
}

#[test]
fn a_refilled_request_equals_a_fresh_one_whatever_the_previous_batch_held() {
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("pgscope")
        .build();
    let first = vec![
        span(
            "SELECT a long name",
            "pgscope",
            vec![
                KeyValue::new("db.query.text", "SELECT * FROM a_long_table_name"),
                KeyValue::new("db.response.returned_rows", 7_i64),
                KeyValue::new("pgscope.batched", true),
            ],
            Status::error("SQLSTATE 42P01"),
        ),
        span("INSERT", "other", vec![KeyValue::new("k", "v")], Status::Ok),
        span("UPDATE", "pgscope", Vec::new(), Status::Unset),
    ];
    // Shorter names, fewer attributes, a value changing type, one scope fewer, no trace
    // state left over: nothing of the first batch may show through.
    let mut second = vec![
        span(
            "S",
            "pgscope",
            vec![
                KeyValue::new("db.query.text", 3_i64),
                KeyValue::new("db.response.returned_rows", "x"),
            ],
            Status::Unset,
        ),
        span("D", "pgscope", Vec::new(), Status::Ok),
    ];
    second[1].span_context = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::default(),
        false,
        TraceState::NONE,
    );
    second[1].parent_span_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    second[1].parent_span_is_remote = true;

    let mut reused = ExportTraceServiceRequest::default();
    let proto_resource = proto::resource(&resource);
    proto::fill(&mut reused, &first, &proto_resource);
    assert_eq!(reused, fresh(&first, &resource));
    assert_eq!(reused.resource_spans[0].scope_spans.len(), 2);
    proto::fill(&mut reused, &second, &proto_resource);
    assert_eq!(reused, fresh(&second, &resource));
    proto::fill(&mut reused, &first, &proto_resource);
    assert_eq!(reused, fresh(&first, &resource));
    proto::fill(&mut reused, &[], &proto_resource);
    assert_eq!(reused, fresh(&[], &resource));
}
