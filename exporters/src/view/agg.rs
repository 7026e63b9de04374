//! Sums over spans, latency distributions and chart bins, shared by rows and details.

use super::*;
use crate::model::errors::ErrorCounts;
use crate::model::histogram::Bucket;

pub(crate) fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

pub(crate) fn ms_f(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}

/// Sums over a span of one or more entries.
#[derive(Debug, Default)]
pub(crate) struct Agg {
    pub(crate) calls: u64,
    pub(crate) batched_calls: u64,
    pub(crate) batch_timed_calls: u64,
    pub(crate) batch_us: u64,
    pub(crate) errors: ErrorCounts,
    pub(crate) skipped: u64,
    pub(crate) rows: u64,
    pub(crate) total_us: u64,
    pub(crate) first_ms: u64,
    pub(crate) last_ms: u64,
}

impl Agg {
    pub(crate) fn add_window(&mut self, window: &Window) {
        self.calls += window.calls;
        self.batched_calls += window.batched_calls;
        self.batch_timed_calls += window.batch_timed_calls;
        self.batch_us = self.batch_us.saturating_add(window.batch_us);
        self.errors.merge(&window.errors);
        self.skipped += window.skipped;
        self.rows += window.rows;
        self.total_us = self.total_us.saturating_add(window.total_us);
    }

    pub(crate) fn add_cumulative(&mut self, stats: &QueryStats) {
        self.calls += stats.calls;
        self.batched_calls += stats.batched_calls;
        self.batch_timed_calls += stats.batch_timed_calls;
        self.batch_us = self.batch_us.saturating_add(stats.batch_us);
        self.errors.merge(&stats.errors);
        self.skipped += stats.skipped;
        self.rows += stats.rows;
        self.total_us = self.total_us.saturating_add(stats.total_us);
    }

    /// Calls whose latency was observed: the divisor of a mean latency.
    pub(crate) fn timed_calls(&self) -> u64 {
        self.calls.saturating_sub(self.batched_calls)
    }

    /// The mean time of the whole `Query` messages the batched calls ran in, ms; `None`
    /// without such calls.
    pub(crate) fn batch_mean_ms(&self) -> Option<f64> {
        (self.batch_timed_calls > 0)
            .then(|| ms_f(self.batch_us as f64 / self.batch_timed_calls as f64))
    }

    /// `total_us` per timed call, µs (0 when none).
    pub(crate) fn mean_us(&self) -> f64 {
        match self.timed_calls() {
            0 => 0.0,
            timed => self.total_us as f64 / timed as f64,
        }
    }

    pub(crate) fn add_seen(&mut self, stats: &QueryStats) {
        if self.first_ms == 0 || (stats.first_seen_ms != 0 && stats.first_seen_ms < self.first_ms) {
            self.first_ms = stats.first_seen_ms;
        }
        self.last_ms = self.last_ms.max(stats.last_seen_ms);
    }
}

/// A latency distribution of either precision.
#[derive(Debug)]
pub(crate) enum Dist<'a> {
    Borrowed(&'a Histogram),
    Full(Histogram),
    Compact(CompactHistogram),
}

impl Dist<'_> {
    /// p50, p95 and p99, µs, in one pass.
    pub(crate) fn percentiles(&self) -> [Option<u64>; 3] {
        const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];
        match self {
            Dist::Borrowed(h) => h.quantiles(QUANTILES),
            Dist::Full(h) => h.quantiles(QUANTILES),
            Dist::Compact(h) => h.quantiles(QUANTILES),
        }
    }

    pub(crate) fn max_us(&self) -> u64 {
        match self {
            Dist::Borrowed(h) => h.max_us(),
            Dist::Full(h) => h.max_us(),
            Dist::Compact(h) => h.max_us(),
        }
    }

    fn bins(&self) -> Vec<Bin> {
        match self {
            Dist::Borrowed(h) => bins(h.buckets()),
            Dist::Full(h) => bins(h.buckets()),
            Dist::Compact(h) => bins(h.buckets()),
        }
    }
}

/// Upper bounds of the chart bins, µs: 1-2-5 steps from 1 µs to 1 h.
fn bin_bounds() -> Vec<u64> {
    let mut bounds = Vec::new();
    let mut decade = 1u64;
    while decade < crate::model::histogram::MAX_US {
        for step in [1, 2, 5] {
            let bound = decade * step;
            if bound < crate::model::histogram::MAX_US {
                bounds.push(bound);
            }
        }
        decade *= 10;
    }
    bounds.push(crate::model::histogram::MAX_US);
    bounds
}

/// Counts per chart bin, from the first to the last non-empty bin.
fn bins(buckets: impl Iterator<Item = Bucket>) -> Vec<Bin> {
    let bounds = bin_bounds();
    let mut counts = vec![0u64; bounds.len()];
    for bucket in buckets {
        let at = bounds
            .iter()
            .position(|bound| bucket.low_us <= *bound)
            .unwrap_or(bounds.len() - 1);
        if let Some(count) = counts.get_mut(at) {
            *count += bucket.count;
        }
    }
    let first = counts.iter().position(|c| *c > 0);
    let last = counts.iter().rposition(|c| *c > 0);
    match (first, last) {
        (Some(first), Some(last)) => (first..=last)
            .map(|i| Bin {
                le_ms: bounds[i] as f64 / 1000.0,
                count: counts[i],
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The row of `agg` and `dist` with `entry`'s identity.
pub(crate) fn make_row(
    entry: &EntryRef<'_>,
    agg: &Agg,
    dist: &Dist<'_>,
    distribution: bool,
) -> Row {
    let per_call = |x: f64| {
        if agg.calls == 0 {
            0.0
        } else {
            x / agg.calls as f64
        }
    };
    let [p50, p95, p99] = dist.percentiles().map(|q| ms(q.unwrap_or(0)));
    Row {
        fingerprint: fingerprint_hex(entry.fingerprint),
        database: entry.labels.database.to_owned(),
        user: entry.labels.user.to_owned(),
        application: entry.labels.application.to_owned(),
        query: entry.info.query.to_string(),
        summary: entry.info.summary.to_string(),
        operation: entry.info.operation.to_string(),
        tables: entry.info.tables.iter().map(ToString::to_string).collect(),
        calls: agg.calls,
        batched_calls: agg.batched_calls,
        batch_mean_ms: agg.batch_mean_ms(),
        errors: agg.errors.to_map(),
        error_count: agg.errors.total(),
        skipped: agg.skipped,
        rows: agg.rows,
        rows_per_call: (per_call(agg.rows as f64) * 1000.0).round() / 1000.0,
        total_ms: ms(agg.total_us),
        mean_ms: ms_f(agg.mean_us()),
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
        max_ms: ms(dist.max_us()),
        first_seen: rfc3339(agg.first_ms),
        last_seen: rfc3339(agg.last_ms),
        distribution: if distribution {
            dist.bins()
        } else {
            Vec::new()
        },
    }
}
