//! OpenTelemetry spans: one CLIENT span per finished query, exported over OTLP.
//!
//! # Design
//!
//! [`SpanObserver`] is one more [`Observer`]: it runs on the connection's task right after the
//! bytes of a query's completion were forwarded, and all it may do there is *enqueue*. For
//! each [`QueryFinished`] (skipped requests never ran and get no span) it
//!
//! 1. finds the parent: a W3C `traceparent` (and `tracestate`) in a sqlcommenter comment of
//!    the statement text, read per query with the W3C TraceContext propagator (`parent.rs`;
//!    a text without the word `traceparent` costs one substring search);
//! 2. starts the span with only a placeholder name, the kind and the start time, so that the
//!    sampler decides before anything else is built — a sampled-out query costs a few atomic
//!    loads, two random ids and the sampler call, and allocates nothing;
//! 3. only for a sampled span, takes the statement's memoised analysis and sets the name and
//!    the semantic-convention attributes (`attributes.rs`) — those that depend only on the
//!    query's shape are built once per fingerprint with shared strings (`shapes.rs`) — the
//!    status, and the end time;
//! 4. ends the span, which hands it to the bounded queue of
//!    [`pgscope_exporters::otel::Tracing`]: a full queue drops it and counts the drop.
//!
//! The span covers exactly the interval the recorder measures (`started`..`finished`), the
//! events' monotonic `Instant`s placed on the wall clock through one mapping for the whole
//! process, re-read once a minute (`clock.rs`).
//!
//! [`SpanExport`] (`wiring.rs`) is what `pgscope run` holds: it exists only when
//! `tracing.enabled` is true — otherwise no span code runs at all — and its
//! [`finish`](SpanExport::finish) flushes the queue at shutdown.

mod attributes;
mod clock;
mod parent;
mod shapes;
mod wiring;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use pgscope_fingerprint::Analyzer;

use crate::event::{Event, Observer, Outcome, QueryFinished};
use crate::observer::analysis_of;

pub use attributes::{ServerAddress, MAX_QUERY_TEXT};
pub use wiring::{chain, SpanExport, SpanExportError};

/// Query shapes whose analysis this observer caches for itself. It is consulted only when no
/// observer before it (the recorder) has analysed the statement already.
const ANALYSIS_CACHE: usize = 5000;

/// Makes one span per finished query on `tracer`.
pub struct SpanObserver {
    tracer: SdkTracer,
    analyzer: Analyzer,
    server: ServerAddress,
    server_attributes: Vec<opentelemetry::KeyValue>,
    shapes: shapes::ShapeCache,
    clock: clock::SpanClock,
}

impl std::fmt::Debug for SpanObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanObserver")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SpanObserver {
    /// Spans on `tracer` for queries sent to `server`.
    pub fn new(tracer: SdkTracer, server: ServerAddress) -> Self {
        SpanObserver {
            tracer,
            analyzer: Analyzer::new(ANALYSIS_CACHE),
            server_attributes: server.attributes(),
            server,
            shapes: shapes::ShapeCache::new(),
            clock: clock::SpanClock::new(),
        }
    }

    /// Records the span of `query`, if it ran and is sampled.
    pub fn record(&self, query: &QueryFinished) {
        if query.outcome == Outcome::Skipped {
            return;
        }
        let parent = parent::context_of(&query.statement.text);
        let start = self.clock.start(query.started);
        let mut span = self
            .tracer
            .span_builder(attributes::FALLBACK_NAME)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .start_with_context(&self.tracer, &parent);
        if !span.is_recording() {
            return;
        }
        let analysis = analysis_of(&self.analyzer, &query.statement);
        let shape = self.shapes.get(&analysis);
        span.update_name(shape.name.clone());
        span.set_attributes(attributes::of(query, &shape, &self.server_attributes));
        if let Outcome::Error { sqlstate } = query.outcome {
            span.set_status(Status::error(format!(
                "SQLSTATE {}",
                attributes::sqlstate_text(&sqlstate)
            )));
        }
        span.end_with_timestamp(self.clock.end(start, query.started, query.finished));
    }
}

impl Observer for SpanObserver {
    fn observe(&self, event: &Event) {
        if let Event::QueryFinished(query) = event {
            self.record(query);
        }
    }
}

/// Shares a span observer as a plain observer.
impl From<SpanObserver> for Arc<dyn Observer> {
    fn from(observer: SpanObserver) -> Self {
        Arc::new(observer)
    }
}
