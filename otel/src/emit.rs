//! [`SpanEmitter`]: spans made straight from the SDK's parts, without its tracer.
//!
//! A span pgscope emits is known whole when it is made: the query has finished, its interval,
//! name and attributes are fixed. The SDK's tracer is built for spans that live while code
//! runs — a `Span` holding its data behind an `Option`, attributes pushed one at a time into a
//! growing vector, span limits checked per push, a processor fan-out on start and on end — and
//! on the connection thread that machinery cost more than half of what making a span did
//! (≈ 3.5k of ≈ 5k instructions per exported span, measured with callgrind, see
//! `benches/README.md`). So the emitter uses the SDK's parts directly, in two steps:
//!
//! 1. [`sample`](SpanEmitter::sample): the trace id is the parent's or a new one, the span id
//!    is new (the SDK's [`RandomIdGenerator`]), and the configured SDK [`Sampler`] decides —
//!    exactly as the SDK's tracer does it. A dropped span costs this and nothing more.
//! 2. [`end`](SpanEmitter::end): the finished span becomes one [`SpanData`], its attributes the
//!    caller's vector as is, and goes to the bounded batch processor.
//!
//! What is exported is therefore what the SDK's tracer would have produced for the same span:
//! same ids, flags, trace state, parent fields, scope and status.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
    SpanData, SpanEvents, SpanLinks, SpanProcessor,
};

use super::queue::BoundedProcessor;

/// Makes spans and queues them for export; cheap to clone (one shared pipeline).
#[derive(Clone, Debug)]
pub struct SpanEmitter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sampler: Sampler,
    ids: RandomIdGenerator,
    scope: InstrumentationScope,
    processor: BoundedProcessor<BatchSpanProcessor>,
    shut_down: AtomicBool,
}

/// A span the sampler kept, between [`SpanEmitter::sample`] and [`SpanEmitter::end`].
#[derive(Debug)]
pub struct SampledSpan {
    context: SpanContext,
    kind: SpanKind,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    /// Attributes the sampler asked for (none from the built-in samplers).
    sampler_attributes: Vec<KeyValue>,
}

impl SampledSpan {
    /// The span's identity: trace id, span id, flags and trace state.
    pub fn span_context(&self) -> &SpanContext {
        &self.context
    }
}

/// What a finished span says besides its identity.
#[derive(Debug)]
pub struct FinishedSpan {
    /// The span name.
    pub name: Cow<'static, str>,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Its attributes, exported in this order.
    pub attributes: Vec<KeyValue>,
    /// Its status.
    pub status: Status,
}

impl SpanEmitter {
    /// An emitter sampling with `sampler` and queueing to `processor`, its spans from `scope`.
    pub(crate) fn new(
        sampler: Sampler,
        scope: InstrumentationScope,
        processor: BoundedProcessor<BatchSpanProcessor>,
    ) -> SpanEmitter {
        SpanEmitter {
            shared: Arc::new(Shared {
                sampler,
                ids: RandomIdGenerator::default(),
                scope,
                processor,
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    /// Asks the sampler about a span of `kind` named `name` under `parent` (an empty context
    /// for a root span), with the `attributes` known at its start (the sampler's inputs);
    /// `None` when it is dropped, or once the pipeline has shut down.
    pub fn sample(
        &self,
        parent: &Context,
        name: &str,
        kind: SpanKind,
        attributes: &[KeyValue],
    ) -> Option<SampledSpan> {
        let shared = &*self.shared;
        if shared.shut_down.load(Ordering::Relaxed) {
            return None;
        }
        let parent_span = parent.span();
        let parent_context = parent_span.span_context();
        let parent_context = parent_context.is_valid().then_some(parent_context);
        let trace_id = match parent_context {
            Some(context) => context.trace_id(),
            None => shared.ids.new_trace_id(),
        };
        let result =
            shared
                .sampler
                .should_sample(Some(parent), trace_id, name, &kind, attributes, &[]);
        // Only a sampled span is exported, as the specification has it for exporters. None of
        // the built-in samplers answers `RecordOnly`; the SDK's tracer would record such a span
        // and its batch processor pass it on, but there is nothing here that reads unexported
        // spans, so it is dropped like `Drop`.
        if result.decision != SamplingDecision::RecordAndSample {
            return None;
        }
        let flags = parent_context.map_or(TraceFlags::default(), SpanContext::trace_flags);
        Some(SampledSpan {
            context: SpanContext::new(
                trace_id,
                shared.ids.new_span_id(),
                flags.with_sampled(true),
                false,
                result.trace_state,
            ),
            kind,
            parent_span_id: parent_context.map_or(SpanId::INVALID, SpanContext::span_id),
            parent_is_remote: parent_context.is_some_and(SpanContext::is_remote),
            sampler_attributes: result.attributes,
        })
    }

    /// Queues `span`, now `finished`, for export; a full queue drops and counts it.
    pub fn end(&self, span: SampledSpan, finished: FinishedSpan) {
        let shared = &*self.shared;
        let mut attributes = finished.attributes;
        attributes.extend(span.sampler_attributes);
        shared.processor.on_end(SpanData {
            span_context: span.context,
            parent_span_id: span.parent_span_id,
            parent_span_is_remote: span.parent_is_remote,
            span_kind: span.kind,
            name: finished.name,
            start_time: finished.start,
            end_time: finished.end,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: finished.status,
            instrumentation_scope: shared.scope.clone(),
        });
    }

    /// Exports everything queued now and waits for it.
    pub(crate) fn force_flush(&self) -> OTelSdkResult {
        self.shared.processor.force_flush()
    }

    /// Exports what is still queued, waiting at most `timeout`; from then on every span is
    /// dropped at [`sample`](Self::sample). A second call fails.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        if self.shared.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.shared.processor.shutdown_with_timeout(timeout)
    }
}

/// Flushes and stops the batch processor when the last emitter goes away without a
/// [`shutdown`](SpanEmitter::shutdown), as the SDK's tracer provider does when dropped.
impl Drop for Shared {
    fn drop(&mut self) {
        if !self.shut_down.swap(true, Ordering::Relaxed) {
            let _ = self.processor.shutdown();
        }
    }
}
