//! The parent of a query's span: the W3C trace context an instrumented application put in a
//! sqlcommenter comment (`/*traceparent='00-…-01',tracestate='…'*/`).

use memchr::memmem;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The two sqlcommenter values the TraceContext propagator reads.
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::with_capacity(2);
        if self.traceparent.is_some() {
            keys.push("traceparent");
        }
        if self.tracestate.is_some() {
            keys.push("tracestate");
        }
        keys
    }
}

/// Finds span parents in statement texts. Most texts carry none, so the first test is a
/// search for the word `traceparent` with a searcher built once (`str::contains` sets one up
/// per call, which costs more than the search of a short statement).
pub(crate) struct Parents {
    word: memmem::Finder<'static>,
}

impl Parents {
    /// A finder of `traceparent`.
    pub(crate) fn new() -> Parents {
        Parents {
            word: memmem::Finder::new("traceparent"),
        }
    }

    /// The context to start `sql`'s span in (see [`context_of`]).
    pub(crate) fn context_of(&self, sql: &str) -> Context {
        if self.word.find(sql.as_bytes()).is_none() {
            return Context::new();
        }
        context_of(sql)
    }
}

/// The context to start `sql`'s span in: a remote parent when `sql` carries a valid
/// `traceparent` in a sqlcommenter comment, else an empty context (a root span). Never reads
/// the thread's current context.
fn context_of(sql: &str) -> Context {
    let mut carrier = Carrier {
        traceparent: None,
        tracestate: None,
    };
    for (key, value) in pgscope_fingerprint::sqlcommenter(sql) {
        match key.as_str() {
            "traceparent" => carrier.traceparent = Some(value),
            "tracestate" => carrier.tracestate = Some(value),
            _ => {}
        }
    }
    if carrier.traceparent.is_none() {
        return Context::new();
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier)
}
