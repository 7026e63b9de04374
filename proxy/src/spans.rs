//! OpenTelemetry spans: one CLIENT span per finished query, exported over OTLP.
//!
//! # Design
//!
//! [`SpanObserver`] is one more [`Observer`]: it runs on the connection's task right after the
//! bytes of a query's completion were forwarded, and all it may do there is *enqueue*. For
//! each [`QueryFinished`] (a skipped request too, marked `pgscope.skipped`) it
//!
//! 1. finds the parent: a W3C `traceparent` (and `tracestate`) in a sqlcommenter comment of
//!    the statement text, read per query with the W3C TraceContext propagator (`parent.rs`;
//!    a text without the word `traceparent` costs one substring search);
//! 2. takes the statement's memoised [`Shape`](crate::shape::Shape) (the recorder, ahead of it
//!    in the observer list, has usually looked it up already) and the attributes known at span
//!    start — those that depend only on the query's shape were built with the shape, once per
//!    fingerprint, with the strings the recorder holds (`shapes.rs`);
//! 3. asks the sampler ([`SpanEmitter::sample`]) with the span's name and those attributes,
//!    which include the convention's sampling-relevant `db.namespace`, `db.query.summary`,
//!    `db.query.text` and `server.address`; a sampled-out query costs this and allocates one
//!    vector;
//! 4. only for a sampled span, adds the outcome's attributes (`attributes.rs`), the status,
//!    and the start and end times, and hands the finished span to the bounded queue of
//!    [`pgscope_otel::Tracing`] ([`SpanEmitter::end`]): a full queue drops it and
//!    counts the drop.
//!
//! The span covers exactly the interval the recorder measures (`started`..`finished`), the
//! events' monotonic `Instant`s placed on the wall clock through the recorder's
//! [`WallClock`] — the process's one mapping — so a query's span and its window agree.
//!
//! [`SpanExport`] (`wiring.rs`) is what the composition root ([`crate::wiring`]) holds, in a
//! [`SpanSlot`] (`slot.rs`) that is always in the process's one observer list and that a reload
//! can fill, empty or refill: a [`SpanExport`] exists only when
//! `tracing.enabled` is true — otherwise no span code runs at all, the empty slot costing one
//! atomic load per event — and its [`finish`](SpanExport::finish) flushes the queue at
//! shutdown (or, after a reload replaced it, on a thread of its own).

mod attributes;
mod parent;
mod shapes;
mod slot;
mod wiring;

#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, Status};
use pgscope_otel::{FinishedSpan, SpanEmitter};

use crate::clock::WallClock;
use crate::observer::{Event, Observer, Outcome, QueryFinished};
use crate::shape::Shapes;

pub use attributes::ServerAddress;
pub(crate) use shapes::SpanShape;
pub use slot::SpanSlot;
pub use wiring::{SpanExport, SpanExportError};

/// Makes one span per finished query on `emitter`.
pub struct SpanObserver {
    emitter: SpanEmitter,
    server: ServerAddress,
    server_attributes: Vec<opentelemetry::KeyValue>,
    shapes: Arc<Shapes>,
    clock: Arc<WallClock>,
}

impl std::fmt::Debug for SpanObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanObserver")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SpanObserver {
    /// Spans made by `emitter` for queries sent to `server`, with the process's `shapes`
    /// (whose texts are cut to `recorder.max_query_text`, as the recorder's are), their times
    /// placed by `clock` (the process's one).
    pub fn new(
        emitter: SpanEmitter,
        server: ServerAddress,
        shapes: Arc<Shapes>,
        clock: Arc<WallClock>,
    ) -> Self {
        SpanObserver {
            emitter,
            server_attributes: server.attributes(),
            server,
            shapes,
            clock,
        }
    }

    /// Records the span of `query`, if it is sampled.
    pub fn record(&self, query: &QueryFinished) {
        let parent = parent::context_of(&query.statement.text, query.statement.strings);
        let shape = self.shapes.of(&query.statement);
        // The samplers pgscope configures (always on or off, trace-id ratio, parent-based)
        // decide on the parent and the trace id alone, never on attributes: the attributes are
        // built for a kept span only, so a dropped one costs no allocation.
        let Some(span) = self
            .emitter
            .sample(&parent, &shape.span.name, SpanKind::Client, &[])
        else {
            return;
        };
        let mut attributes = attributes::at_start(query, &shape.span, &self.server_attributes);
        attributes::at_end(query, &shape.normalized, &mut attributes);
        let status = match query.outcome {
            Outcome::Error { sqlstate } => {
                Status::error(format!("SQLSTATE {}", attributes::sqlstate_text(&sqlstate)))
            }
            _ => Status::Unset,
        };
        // The end is the start plus the measured duration: never before the start, and spans
        // that touch on the monotonic clock touch when exported.
        let start = self.clock.system_time(query.started);
        self.emitter.end(
            span,
            FinishedSpan {
                name: Cow::Owned(shape.span.name.clone()),
                start,
                end: start + query.latency(),
                attributes,
                status,
            },
        );
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
