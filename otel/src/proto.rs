//! A batch of finished spans as one OTLP `ExportTraceServiceRequest`, built straight into
//! `opentelemetry-proto`'s generated (prost) message types; prost encodes it.
//!
//! The mapping is the one the OpenTelemetry SDK's OTLP exporter applies (`opentelemetry-proto`'s
//! `transform` module): ids as their big-endian bytes, an invalid parent id as no bytes, the
//! span flags carrying the W3C trace flags and the OTLP "parent is remote" bits, the status
//! code with the error description, one `ResourceSpans` for the pipeline's resource and one
//! `ScopeSpans` per instrumentation scope. What it leaves out is that exporter's cost: the
//! scope is not hashed per span (spans of one scope arrive together, so a span is compared with
//! the scope before it), string values are copied as they are instead of through `Display`,
//! and the resource is converted once per pipeline, not per batch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanId, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use opentelemetry_sdk::trace::SpanData;

/// The request exporting `spans`, all under `resource`.
pub(crate) fn request(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
    let mut scopes: Vec<(InstrumentationScope, trace::ScopeSpans)> = Vec::new();
    let mut current = usize::MAX;
    let count = spans.len();
    for span in spans {
        let same = scopes
            .get(current)
            .is_some_and(|(scope, _)| *scope == span.instrumentation_scope);
        if !same {
            current = match scopes
                .iter()
                .position(|(scope, _)| *scope == span.instrumentation_scope)
            {
                Some(index) => index,
                None => {
                    let proto = scope_spans(&span.instrumentation_scope, count);
                    scopes.push((span.instrumentation_scope.clone(), proto));
                    scopes.len() - 1
                }
            };
        }
        scopes[current].1.spans.push(self::span(span));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![trace::ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: scopes.into_iter().map(|(_, spans)| spans).collect(),
            schema_url: String::new(),
        }],
    }
}

/// The resource of an SDK `Resource` (its schema URL is not exported: pgscope sets none).
pub(crate) fn resource(resource: &opentelemetry_sdk::Resource) -> Resource {
    Resource {
        attributes: resource
            .iter()
            .map(|(key, value)| key_value(key.as_str(), value))
            .collect(),
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

fn scope_spans(scope: &InstrumentationScope, capacity: usize) -> trace::ScopeSpans {
    trace::ScopeSpans {
        scope: Some(common::InstrumentationScope {
            name: scope.name().to_owned(),
            version: scope.version().unwrap_or_default().to_owned(),
            attributes: attributes(scope.attributes()),
            dropped_attributes_count: 0,
        }),
        spans: Vec::with_capacity(capacity),
        schema_url: scope.schema_url().unwrap_or_default().to_owned(),
    }
}

fn span(span: SpanData) -> trace::Span {
    let context = &span.span_context;
    let (code, message) = match span.status {
        Status::Unset => (trace::status::StatusCode::Unset, String::new()),
        Status::Ok => (trace::status::StatusCode::Ok, String::new()),
        Status::Error { description } => {
            (trace::status::StatusCode::Error, description.into_owned())
        }
    };
    trace::Span {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().header(),
        parent_span_id: if span.parent_span_id == SpanId::INVALID {
            Vec::new()
        } else {
            span.parent_span_id.to_bytes().to_vec()
        },
        flags: flags(context, span.parent_span_is_remote),
        name: span.name.into_owned(),
        kind: kind(&span.span_kind) as i32,
        start_time_unix_nano: nanos(span.start_time),
        end_time_unix_nano: nanos(span.end_time),
        attributes: attributes(&span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .events
            .iter()
            .map(|event| trace::span::Event {
                time_unix_nano: nanos(event.timestamp),
                name: event.name.clone().into_owned(),
                attributes: attributes(&event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.events.dropped_count,
        links: span
            .links
            .links
            .iter()
            .map(|link| trace::span::Link {
                trace_id: link.span_context.trace_id().to_bytes().to_vec(),
                span_id: link.span_context.span_id().to_bytes().to_vec(),
                trace_state: link.span_context.trace_state().header(),
                attributes: attributes(&link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: flags(&link.span_context, link.span_context.is_remote()),
            })
            .collect(),
        dropped_links_count: span.links.dropped_count,
        status: Some(trace::Status {
            message,
            code: code as i32,
        }),
    }
}

/// The W3C trace flags, and that whether the parent is remote is known, and whether it is.
fn flags(context: &SpanContext, remote: bool) -> u32 {
    let mut flags =
        u32::from(context.trace_flags().to_u8()) | trace::SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        flags |= trace::SpanFlags::ContextIsRemoteMask as u32;
    }
    flags
}

fn kind(kind: &opentelemetry::trace::SpanKind) -> trace::span::SpanKind {
    use opentelemetry::trace::SpanKind;
    match kind {
        SpanKind::Client => trace::span::SpanKind::Client,
        SpanKind::Server => trace::span::SpanKind::Server,
        SpanKind::Producer => trace::span::SpanKind::Producer,
        SpanKind::Consumer => trace::span::SpanKind::Consumer,
        SpanKind::Internal => trace::span::SpanKind::Internal,
    }
}

/// Nanoseconds since the Unix epoch; a time before it is 0, as the SDK's exporter has it.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64
}

fn attributes<'a>(kvs: impl IntoIterator<Item = &'a KeyValue>) -> Vec<common::KeyValue> {
    kvs.into_iter()
        .map(|kv| key_value(kv.key.as_str(), &kv.value))
        .collect()
}

fn key_value(key: &str, value: &Value) -> common::KeyValue {
    common::KeyValue {
        key: key.to_owned(),
        value: Some(any_value(value)),
        key_strindex: 0,
    }
}

fn any_value(value: &Value) -> common::AnyValue {
    use common::any_value::Value as V;
    let value = match value {
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(f) => V::DoubleValue(*f),
        Value::String(s) => V::StringValue(s.as_str().to_owned()),
        Value::Array(array) => V::ArrayValue(common::ArrayValue {
            values: match array {
                Array::Bool(values) => values.iter().map(|v| any(V::BoolValue(*v))).collect(),
                Array::I64(values) => values.iter().map(|v| any(V::IntValue(*v))).collect(),
                Array::F64(values) => values.iter().map(|v| any(V::DoubleValue(*v))).collect(),
                Array::String(values) => values
                    .iter()
                    .map(|v| any(V::StringValue(v.as_str().to_owned())))
                    .collect(),
                // `Array` is non-exhaustive; a future kind is exported as its text.
                other => vec![any(V::StringValue(other.to_string()))],
            },
        }),
        // `Value` is non-exhaustive; a future kind is exported as its text.
        other => V::StringValue(other.to_string()),
    };
    any(value)
}

fn any(value: common::any_value::Value) -> common::AnyValue {
    common::AnyValue { value: Some(value) }
}
