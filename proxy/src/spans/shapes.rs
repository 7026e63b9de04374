//! [`ShapeCache`]: the part of a span that depends only on the query's shape — its name and
//! the `db.operation.name`, `db.collection.name`, `db.query.summary`, `db.query.text` and
//! `pgscope.fingerprint` attributes — built once per fingerprint with shared (`Arc<str>`)
//! strings, so that a sampled span copies pointers, not texts.
//!
//! Sixteen independently locked shards keyed by fingerprint keep the lookups of different
//! connections from contending; a full shard is simply emptied (the cache only saves work).
//! The maps hash with foldhash, as the recorder's do: SipHash of a `u64` costs more than the
//! rest of the lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::{KeyValue, Value};
use pgscope_fingerprint::Analysis;

use super::attributes;

/// Shards of the cache.
const SHARDS: usize = 16;
/// Shapes kept per shard (4096 in all).
const PER_SHARD: usize = 256;

/// What every span of one query shape shares.
#[derive(Debug)]
pub(crate) struct Shape {
    /// The span name.
    pub(crate) name: String,
    /// The shape's attributes, strings shared.
    pub(crate) attributes: Vec<KeyValue>,
}

impl Shape {
    /// The shape of `analysis`, its `db.query.text` cut to `max_text` bytes.
    fn of(analysis: &Analysis, max_text: usize) -> Shape {
        let shared = |text: &str| Value::from(Arc::<str>::from(text));
        let mut kvs = Vec::with_capacity(5);
        if let Some(op) = attributes::operation(analysis) {
            kvs.push(KeyValue::new("db.operation.name", op));
        }
        if let Some(table) = attributes::single_table(analysis) {
            kvs.push(KeyValue::new("db.collection.name", shared(table)));
        }
        if let Some(summary) = attributes::summary(analysis) {
            kvs.push(KeyValue::new("db.query.summary", shared(summary)));
        }
        kvs.push(KeyValue::new(
            "db.query.text",
            shared(&crate::observer::cut(&analysis.normalized, max_text)),
        ));
        kvs.push(KeyValue::new(
            "pgscope.fingerprint",
            Value::from(Arc::<str>::from(analysis.fingerprint.to_string())),
        ));
        Shape {
            name: attributes::span_name(analysis),
            attributes: kvs,
        }
    }
}

/// Shapes by fingerprint.
#[derive(Debug)]
pub(crate) struct ShapeCache {
    /// Longest `db.query.text`, bytes (`recorder.max_query_text`).
    max_text: usize,
    shards: [Mutex<HashMap<u64, Arc<Shape>, foldhash::fast::RandomState>>; SHARDS],
}

impl ShapeCache {
    /// An empty cache whose shapes cut `db.query.text` to `max_text` bytes.
    pub(crate) fn new(max_text: usize) -> ShapeCache {
        ShapeCache {
            max_text,
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
        }
    }

    /// The shape of `analysis`, built on first use.
    pub(crate) fn get(&self, analysis: &Analysis) -> Arc<Shape> {
        let fingerprint = analysis.fingerprint.0;
        let Some(shard) = self.shards.get((fingerprint % SHARDS as u64) as usize) else {
            return Arc::new(Shape::of(analysis, self.max_text));
        };
        let mut shapes = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shape) = shapes.get(&fingerprint) {
            return Arc::clone(shape);
        }
        if shapes.len() >= PER_SHARD {
            shapes.clear();
        }
        let shape = Arc::new(Shape::of(analysis, self.max_text));
        shapes.insert(fingerprint, Arc::clone(&shape));
        shape
    }
}
