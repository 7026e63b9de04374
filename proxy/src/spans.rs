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
//! 2. takes the statement's memoised analysis (the recorder, ahead of it, has usually made it
//!    already) and the attributes known at span start — those that depend only on the query's
//!    shape are built once per fingerprint with shared strings (`shapes.rs`);
//! 3. asks the sampler ([`SpanEmitter::sample`]) with the span's name and those attributes,
//!    which include the convention's sampling-relevant `db.namespace`, `db.query.summary`,
//!    `db.query.text` and `server.address`; a sampled-out query costs this and allocates one
//!    vector;
//! 4. only for a sampled span, adds the outcome's attributes (`attributes.rs`), the status,
//!    and the start and end times, and hands the finished span to the bounded queue of
//!    [`pgscope_exporters::otel::Tracing`] ([`SpanEmitter::end`]): a full queue drops it and
//!    counts the drop.
//!
//! The span covers exactly the interval the recorder measures (`started`..`finished`), the
//! events' monotonic `Instant`s placed on the wall clock through the recorder's
//! [`WallClock`] — the process's one mapping — so a query's span and its window agree.
//!
//! [`SpanExport`] (`wiring.rs`) is what the composition root ([`crate::wiring`]) holds and
//! puts in the process's one observer list: it exists only when
//! `tracing.enabled` is true — otherwise no span code runs at all — and its
//! [`finish`](SpanExport::finish) flushes the queue at shutdown.

mod attributes;
mod parent;
mod shapes;
mod wiring;

#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{SpanKind, Status};
use pgscope_exporters::otel::{FinishedSpan, SpanEmitter};
use pgscope_fingerprint::Analyzer;

use crate::clock::WallClock;
use crate::event::{Event, Outcome, QueryFinished};
use crate::observer::analysis_of;
use crate::observer::Observer;

pub use attributes::ServerAddress;
pub use wiring::{SpanExport, SpanExportError};

/// Query shapes whose analysis this observer caches for itself. It is consulted only when no
/// observer before it (the recorder) has analysed the statement already.
const ANALYSIS_CACHE: usize = 5000;

/// Makes one span per finished query on `emitter`.
pub struct SpanObserver {
    emitter: SpanEmitter,
    analyzer: Analyzer,
    server: ServerAddress,
    server_attributes: Vec<opentelemetry::KeyValue>,
    shapes: shapes::ShapeCache,
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
    /// Spans made by `emitter` for queries sent to `server`, their `db.query.text` cut to
    /// `max_query_text` bytes (`recorder.max_query_text`, the recorder's limit), their times
    /// placed by `clock` (the recorder's).
    pub fn new(
        emitter: SpanEmitter,
        server: ServerAddress,
        max_query_text: usize,
        clock: Arc<WallClock>,
    ) -> Self {
        SpanObserver {
            emitter,
            analyzer: Analyzer::new(ANALYSIS_CACHE),
            server_attributes: server.attributes(),
            server,
            shapes: shapes::ShapeCache::new(max_query_text),
            clock,
        }
    }

    /// Records the span of `query`, if it is sampled.
    pub fn record(&self, query: &QueryFinished) {
        let parent = parent::context_of(&query.statement.text, query.statement.strings);
        let analysis = analysis_of(&self.analyzer, &query.statement);
        let shape = self.shapes.get(&analysis);
        let mut attributes = attributes::at_start(query, &shape, &self.server_attributes);
        let Some(span) = self
            .emitter
            .sample(&parent, &shape.name, SpanKind::Client, &attributes)
        else {
            return;
        };
        attributes::at_end(query, &analysis, &mut attributes);
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
                name: Cow::Owned(shape.name.clone()),
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
