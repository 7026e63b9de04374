//! The parent of a query's span: the W3C trace context an instrumented application put in a
//! sqlcommenter comment (`/*traceparent='00-…-01',tracestate='…'*/`).

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pgscope_fingerprint::ConformingStrings;

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

/// The context to start `sql`'s span in: a remote parent when `sql` carries a valid
/// `traceparent` in a sqlcommenter comment (a comment as the server reads it under `strings`,
/// never text inside a literal), else an empty context (a root span). Never reads the thread's
/// current context.
pub(crate) fn context_of(sql: &str, strings: ConformingStrings) -> Context {
    if !sql.contains("traceparent") {
        return Context::new();
    }
    let mut carrier = Carrier {
        traceparent: None,
        tracestate: None,
    };
    for (key, value) in pgscope_fingerprint::sqlcommenter_with(sql, strings) {
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
