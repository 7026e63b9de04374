//! [`FailedDurations`]: the durations of failed calls per SQLSTATE class, so that the
//! `db.client.operation.duration` histogram can carry `error.type` and
//! `db.response.status_code` for failed operations, as the OpenTelemetry convention asks.
//!
//! Cardinality stays bounded: a series is keyed by the SQLSTATE *class* — its first two
//! characters, of which PostgreSQL defines about forty (`23` integrity constraint violation,
//! `40` transaction rollback, `57` operator intervention, …) — never by the full five-character
//! code, so one query shape adds at most one histogram per class it has failed with.

use serde::{Deserialize, Serialize};

use super::buckets::DurationBuckets;
use super::stats::Sqlstate;

/// A SQLSTATE class: the first two characters of a SQLSTATE.
pub type SqlstateClass = [u8; 2];

/// Durations of one class's failed calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassDurations {
    /// The SQLSTATE class.
    pub class: SqlstateClass,
    /// Failed calls per duration bucket.
    pub buckets: DurationBuckets,
    /// Failed calls.
    pub count: u64,
    /// Sum of their latencies, µs.
    pub total_us: u64,
}

/// Timed failed calls by SQLSTATE class. Empty, it allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FailedDurations {
    classes: Vec<ClassDurations>,
}

impl FailedDurations {
    /// Counts one failed call with `code` that took `latency_us`.
    pub fn record(&mut self, code: Sqlstate, latency_us: u64) {
        let class = [code[0], code[1]];
        let at = match self.classes.iter().position(|c| c.class == class) {
            Some(at) => at,
            None => {
                self.classes.push(ClassDurations {
                    class,
                    ..ClassDurations::default()
                });
                self.classes.len() - 1
            }
        };
        if let Some(entry) = self.classes.get_mut(at) {
            entry.buckets.record(latency_us);
            entry.count += 1;
            entry.total_us = entry.total_us.saturating_add(latency_us);
        }
    }

    /// The classes seen, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = &ClassDurations> + '_ {
        self.classes.iter()
    }

    /// Whether no failed call was recorded.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.classes.capacity() * std::mem::size_of::<ClassDurations>()
    }
}
