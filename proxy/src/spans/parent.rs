//! The parent of a query's span: the W3C trace context an instrumented application put in a
//! sqlcommenter comment (`/*traceparent='00-…-01',tracestate='…'*/`).

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

/// The context to start `sql`'s span in: a remote parent when `sql` carries a valid
/// `traceparent` in a sqlcommenter comment, else an empty context (a root span). Never reads
/// the thread's current context.
pub(crate) fn context_of(sql: &str) -> Context {
    if !sql.contains("traceparent") {
        return Context::new();
    }
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
        carrier = trailing_comment(sql);
    }
    if carrier.traceparent.is_none() {
        return Context::new();
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier)
}

/// The lenient reading of the comment that ends `sql`: the quoted `traceparent` and
/// `tracestate` values of a sqlcommenter list whose other values may be unquoted, as
/// OpenTelemetry's Python DB-API instrumentation writes them (`dbapi_threadsafety=2,
/// libpq_version=180006,traceparent='00-…'`), which the strict reader rejects.
fn trailing_comment(sql: &str) -> Carrier {
    let mut carrier = Carrier {
        traceparent: None,
        tracestate: None,
    };
    let trimmed = sql.trim_end().trim_end_matches(';').trim_end();
    let Some(body) = trimmed
        .strip_suffix("*/")
        .and_then(|rest| rest.rsplit_once("/*"))
        .map(|(_, body)| body)
    else {
        return carrier;
    };
    for pair in body.split(',') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
            continue;
        };
        match key.trim() {
            "traceparent" => carrier.traceparent = Some(percent_decode(quoted)),
            "tracestate" => carrier.tracestate = Some(percent_decode(quoted)),
            _ => {}
        }
    }
    carrier
}

/// Decodes `%XX` escapes (sqlcommenter values are URL-encoded); others are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.extend(u8::try_from(high * 16 + low).ok());
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
