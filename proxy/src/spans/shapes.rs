//! [`SpanShape`]: the part of a span that depends only on the query's shape — its name and the
//! `db.operation.name`, `db.collection.name`, `db.query.summary`, `db.query.text` and
//! `pgscope.fingerprint` attributes — built once per shape as part of its [`Shape`]
//! ([`crate::shape`]), with the strings the recorder's entries hold, so that a sampled span
//! copies pointers, not texts.
//!
//! [`Shape`]: crate::shape::Shape

use std::sync::Arc;

use opentelemetry::{KeyValue, Value};
use pgscope_exporters::QueryInfo;
use pgscope_fingerprint::Analysis;

use super::attributes;

/// What every span of one query shape shares.
#[derive(Debug)]
pub(crate) struct SpanShape {
    /// The span name.
    pub(crate) name: String,
    /// The shape's attributes, strings shared.
    pub(crate) attributes: Vec<KeyValue>,
}

impl SpanShape {
    /// The span part of `analysis`, whose stored texts (cut to `recorder.max_query_text`) are
    /// `info`'s: `db.query.text` is `info.query`; the summary and table are the analysis's
    /// whole ones, sharing `info`'s strings where the cut left them whole.
    pub(crate) fn of(analysis: &Analysis, info: &QueryInfo) -> SpanShape {
        let shared = |whole: &str, stored: Option<&Arc<str>>| match stored {
            Some(stored) if **stored == *whole => Value::from(Arc::clone(stored)),
            _ => Value::from(Arc::<str>::from(whole)),
        };
        let mut kvs = Vec::with_capacity(5);
        if let Some(op) = attributes::operation(analysis) {
            kvs.push(KeyValue::new("db.operation.name", op));
        }
        if let Some(table) = attributes::single_table(analysis) {
            kvs.push(KeyValue::new(
                "db.collection.name",
                shared(table, info.tables.first()),
            ));
        }
        if let Some(summary) = attributes::summary(analysis) {
            kvs.push(KeyValue::new(
                "db.query.summary",
                shared(summary, Some(&info.summary)),
            ));
        }
        kvs.push(KeyValue::new(
            "db.query.text",
            Value::from(Arc::clone(&info.query)),
        ));
        kvs.push(KeyValue::new(
            "pgscope.fingerprint",
            Value::from(Arc::<str>::from(analysis.fingerprint.to_string())),
        ));
        SpanShape {
            name: attributes::span_name(analysis),
            attributes: kvs,
        }
    }
}
