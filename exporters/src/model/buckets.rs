//! [`DurationBuckets`]: exact call counts per duration bucket, at the bounds OpenTelemetry
//! advises for `db.client.operation.duration` ([`BUCKETS_SECONDS`]). Each entry keeps them
//! besides its histogram so that a bucketed histogram (Prometheus's, for one) counts exactly,
//! where reading the counts back from the histogram would be off at a bucket's edge.

use serde::{Deserialize, Serialize};

/// Upper bounds of the duration buckets, seconds (OpenTelemetry's advice for
/// `db.client.operation.duration`).
pub const BUCKETS_SECONDS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The same bounds in microseconds.
const BUCKETS_US: [u64; 9] = [
    1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000, 10_000_000,
];

/// Calls per duration bucket (not cumulative; the last counts values above 10 s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationBuckets(pub [u64; 10]);

impl DurationBuckets {
    /// Counts one latency.
    pub fn record(&mut self, latency_us: u64) {
        let at = BUCKETS_US
            .iter()
            .position(|bound| latency_us <= *bound)
            .unwrap_or(BUCKETS_US.len());
        if let Some(count) = self.0.get_mut(at) {
            *count += 1;
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &DurationBuckets) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine += theirs;
        }
    }

    /// Takes `other`'s counts away (never below zero).
    pub fn subtract(&mut self, other: &DurationBuckets) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine = mine.saturating_sub(*theirs);
        }
    }
}
