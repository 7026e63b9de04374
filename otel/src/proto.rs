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
//! the resource is converted once per pipeline, not per batch, and the request of the previous
//! batch is refilled in place ([`fill`]): its vectors and strings keep their capacity, so a
//! steady stream of batches hardly allocates (`proto_tests.rs` checks that a refilled request
//! equals a fresh one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanId, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use opentelemetry_sdk::trace::SpanData;

/// Fills `request` with `spans`, all under `resource`, reusing what `request` already holds —
/// the previous batch's vectors and strings — so that a steady stream of batches allocates
/// almost nothing: every id, name, key and string value is copied into a buffer that already
/// has room for it.
pub(crate) fn fill(
    request: &mut ExportTraceServiceRequest,
    spans: &[SpanData],
    resource: &Resource,
) {
    request.resource_spans.resize_with(1, Default::default);
    let resource_spans = &mut request.resource_spans[0];
    if resource_spans.resource.as_ref() != Some(resource) {
        resource_spans.resource = Some(resource.clone());
    }
    resource_spans.schema_url.clear();
    let groups = &mut resource_spans.scope_spans;
    // The scope of each group in use, and how many of its spans are filled.
    let mut used: Vec<(&InstrumentationScope, usize)> = Vec::new();
    let mut current = usize::MAX;
    for span in spans {
        let scope = &span.instrumentation_scope;
        if used.get(current).is_none_or(|(last, _)| *last != scope) {
            current = match used.iter().position(|(known, _)| *known == scope) {
                Some(index) => index,
                None => {
                    if groups.len() == used.len() {
                        groups.push(trace::ScopeSpans::default());
                    }
                    set_scope(&mut groups[used.len()], scope);
                    used.push((scope, 0));
                    used.len() - 1
                }
            };
        }
        let (group, filled) = (&mut groups[current], &mut used[current].1);
        if group.spans.len() == *filled {
            group.spans.push(trace::Span::default());
        }
        fill_span(&mut group.spans[*filled], span);
        *filled += 1;
    }
    groups.truncate(used.len());
    for (group, (_, filled)) in groups.iter_mut().zip(&used) {
        group.spans.truncate(*filled);
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

fn set_scope(group: &mut trace::ScopeSpans, scope: &InstrumentationScope) {
    let proto = group.scope.get_or_insert_with(Default::default);
    set(&mut proto.name, scope.name());
    set(&mut proto.version, scope.version().unwrap_or_default());
    proto.attributes = attributes(scope.attributes());
    proto.dropped_attributes_count = 0;
    set(
        &mut group.schema_url,
        scope.schema_url().unwrap_or_default(),
    );
}

fn fill_span(proto: &mut trace::Span, span: &SpanData) {
    let context = &span.span_context;
    set_bytes(&mut proto.trace_id, &context.trace_id().to_bytes());
    set_bytes(&mut proto.span_id, &context.span_id().to_bytes());
    // An empty trace state's header allocates nothing.
    proto.trace_state = context.trace_state().header();
    if span.parent_span_id == SpanId::INVALID {
        proto.parent_span_id.clear();
    } else {
        set_bytes(&mut proto.parent_span_id, &span.parent_span_id.to_bytes());
    }
    proto.flags = flags(context, span.parent_span_is_remote);
    set(&mut proto.name, &span.name);
    proto.kind = kind(&span.span_kind) as i32;
    proto.start_time_unix_nano = nanos(span.start_time);
    proto.end_time_unix_nano = nanos(span.end_time);
    fill_attributes(&mut proto.attributes, &span.attributes);
    proto.dropped_attributes_count = span.dropped_attributes_count;
    proto.events.clear();
    proto
        .events
        .extend(span.events.events.iter().map(|event| trace::span::Event {
            time_unix_nano: nanos(event.timestamp),
            name: event.name.clone().into_owned(),
            attributes: attributes(&event.attributes),
            dropped_attributes_count: event.dropped_attributes_count,
        }));
    proto.dropped_events_count = span.events.dropped_count;
    proto.links.clear();
    proto
        .links
        .extend(span.links.links.iter().map(|link| trace::span::Link {
            trace_id: link.span_context.trace_id().to_bytes().to_vec(),
            span_id: link.span_context.span_id().to_bytes().to_vec(),
            trace_state: link.span_context.trace_state().header(),
            attributes: attributes(&link.attributes),
            dropped_attributes_count: link.dropped_attributes_count,
            flags: flags(&link.span_context, link.span_context.is_remote()),
        }));
    proto.dropped_links_count = span.links.dropped_count;
    let status = proto.status.get_or_insert_with(Default::default);
    let (code, message) = match &span.status {
        Status::Unset => (trace::status::StatusCode::Unset, ""),
        Status::Ok => (trace::status::StatusCode::Ok, ""),
        Status::Error { description } => (trace::status::StatusCode::Error, &**description),
    };
    status.code = code as i32;
    set(&mut status.message, message);
}

fn set(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

fn set_bytes(target: &mut Vec<u8>, value: &[u8]) {
    target.clear();
    target.extend_from_slice(value);
}

/// `kvs` as proto key-values in `target`, reusing its keys and string values.
fn fill_attributes(target: &mut Vec<common::KeyValue>, kvs: &[KeyValue]) {
    target.truncate(kvs.len());
    for (at, kv) in kvs.iter().enumerate() {
        if at == target.len() {
            target.push(key_value(kv.key.as_str(), &kv.value));
            continue;
        }
        let proto = &mut target[at];
        set(&mut proto.key, kv.key.as_str());
        proto.key_strindex = 0;
        match (&mut proto.value, &kv.value) {
            (
                Some(common::AnyValue {
                    value: Some(common::any_value::Value::StringValue(text)),
                }),
                Value::String(value),
            ) => set(text, value.as_str()),
            (slot, value) => *slot = Some(any_value(value)),
        }
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
