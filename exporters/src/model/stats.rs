//! What is kept per recorded query shape: [`QueryStats`], cumulative and per time window.
//!
//! These are plain data with O(1) `record` methods; they know nothing of threads. The proxy's
//! recorder keeps one per fingerprint × database × user × application behind its shard locks,
//! and a snapshot (`crate::snapshot`) serializes them as they are, so a restored recorder carries on
//! exactly where it stopped.

use serde::{Deserialize, Serialize};

use super::buckets::DurationBuckets;
use super::errors::ErrorCounts;
use super::failures::FailedDurations;
use super::histogram::Histogram;
use super::windows::{WindowConfig, Windows};

/// A SQLSTATE code, five ASCII characters (`*b"23505"`).
pub type Sqlstate = [u8; 5];

/// How one query ended, as the recorder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOutcome {
    /// Completed successfully.
    Ok,
    /// Failed with this SQLSTATE.
    Error(Sqlstate),
    /// Never ran (skipped after an earlier error in its pipeline, or the connection closed):
    /// counted apart, not a call.
    Skipped,
}

/// One finished query, reduced to what is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it finished, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Its latency in microseconds.
    pub latency_us: u64,
    /// Rows from its command tag, when it had a count.
    pub rows: Option<u64>,
    /// How it ended.
    pub outcome: SampleOutcome,
    /// One of several statements of a single simple `Query`, whose own latency was not
    /// observed: counted as a call (rows and errors too) and as a batched call, but its
    /// `latency_us` (an arrival gap) is kept out of every latency figure.
    pub batched: bool,
    /// For a batched statement, the whole `Query`'s time, µs: from when it was written
    /// upstream to the server's `ReadyForQuery` (`None` when the connection ended first).
    pub batch_us: Option<u64>,
}

/// Everything recorded about one key since the recorder started or was last reset.
///
/// `calls` counts executions that completed, successfully or not: `errors` are a subset of
/// `calls`, and their latencies are in the histograms too. Skipped queries are not calls.
/// `batched_calls` are the subset of `calls` whose latency was not observed (statements of a
/// multi-statement simple `Query`): the latency figures — `total_us`, `min_us`, `max_us`, the
/// histograms — cover the other [`QueryStats::timed_calls`] only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryStats {
    /// Completed executions (successful or failed).
    pub calls: u64,
    /// Calls among `calls` whose latency was not observed apart (see the type's docs).
    #[serde(default)]
    pub batched_calls: u64,
    /// The batched calls whose `Query` was timed whole ([`Sample::batch_us`]).
    #[serde(default)]
    pub batch_timed_calls: u64,
    /// Sum of those `Query` times, µs: the batches' time, not any statement's.
    #[serde(default)]
    pub batch_us: u64,
    /// Failed executions by SQLSTATE.
    pub errors: ErrorCounts,
    /// Queries resolved as skipped.
    pub skipped: u64,
    /// Rows returned or affected, from command tags.
    pub rows: u64,
    /// Sum of latencies of the timed calls, µs.
    pub total_us: u64,
    /// Smallest latency, µs (0 when no timed calls).
    pub min_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// First event, ms since the epoch.
    pub first_seen_ms: u64,
    /// Latest event, ms since the epoch.
    pub last_seen_ms: u64,
    /// Latency distribution, full precision.
    pub histogram: Histogram,
    /// Calls per duration bucket, exact (timed calls, failed ones included). Named
    /// `prometheus` in snapshots, as it was when only Prometheus read it.
    #[serde(rename = "prometheus")]
    pub buckets: DurationBuckets,
    /// The timed failed calls among those, by SQLSTATE class (see [`FailedDurations`]).
    #[serde(default, skip_serializing_if = "FailedDurations::is_empty")]
    pub failed_durations: FailedDurations,
    /// The rolling time windows.
    pub windows: Windows,
}

impl QueryStats {
    /// Records one sample: O(1).
    pub fn record(&mut self, sample: &Sample, config: &WindowConfig) {
        if self.first_seen_ms == 0 || sample.at_ms < self.first_seen_ms {
            self.first_seen_ms = sample.at_ms;
        }
        self.last_seen_ms = self.last_seen_ms.max(sample.at_ms);
        self.windows.record(sample, config);
        match sample.outcome {
            SampleOutcome::Skipped => {
                self.skipped += 1;
                return;
            }
            SampleOutcome::Error(code) => self.errors.add(code, 1),
            SampleOutcome::Ok => self.rows += sample.rows.unwrap_or(0),
        }
        self.calls += 1;
        if sample.batched {
            self.batched_calls += 1;
            if let Some(batch_us) = sample.batch_us {
                self.batch_timed_calls += 1;
                self.batch_us = self.batch_us.saturating_add(batch_us);
            }
            return;
        }
        let latency = sample.latency_us;
        self.min_us = if self.timed_calls() == 1 {
            latency
        } else {
            self.min_us.min(latency)
        };
        self.max_us = self.max_us.max(latency);
        self.total_us = self.total_us.saturating_add(latency);
        self.histogram.record(latency);
        self.buckets.record(latency);
        if let SampleOutcome::Error(code) = sample.outcome {
            self.failed_durations.record(code, latency);
        }
    }

    /// Calls whose latency was observed: those the latency figures cover.
    pub fn timed_calls(&self) -> u64 {
        self.calls.saturating_sub(self.batched_calls)
    }

    /// Failed executions, all SQLSTATEs together.
    pub fn error_count(&self) -> u64 {
        self.errors.total()
    }

    /// Heap bytes held by the histograms and windows (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.histogram.heap_bytes()
            + self.windows.heap_bytes()
            + self.errors.heap_bytes()
            + self.failed_durations.heap_bytes()
    }
}
