//! pgscope-exporters: what a pgscope report *is*, and every form it is shown in.
//!
//! # Design
//!
//! The proxy's recorder decides *where* statistics live (shards, locks, eviction); this crate
//! decides *what* they are and how they are read. It knows nothing of sockets, threads or the
//! proxy.
//!
//! - **Data** ([`stats`], [`windows`], [`histogram`], [`errors`]): per query shape, a
//!   [`QueryStats`] — calls, errors by SQLSTATE, skipped, rows, total/min/max time, first and
//!   last seen, a full-precision latency [`Histogram`] (three significant digits, 1 µs–1 h),
//!   exact Prometheus bucket counters, and a ring of rolling time [`Window`]s each with a
//!   [`CompactHistogram`]. Recording a sample is O(1) and allocation-free once a window exists.
//!   The histograms keep memory proportional to the latencies actually seen (see
//!   [`histogram`]), which is what lets 5000 fingerprints × 60 windows fit the memory budget.
//! - **Access** ([`source`]): every exporter reads through the [`StatsSource`] trait, which lends
//!   entries one at a time. The live recorder implements it (each entry lent under its shard
//!   lock, briefly) and so does a loaded [`Snapshot`], so the same code serves `/metrics`, the
//!   JSON API, live reports and reports from a saved file.
//! - **Forms**: [`prometheus`] (a `prometheus::core::Collector`; the crate writes the text),
//!   [`view`] (the JSON API's rows, detail and per-window series — the interface trend
//!   analyses read), [`snapshot`] (the persistent form, streamed entry by entry), and
//!   [`report`] (a pt-query-digest-style profile in text, JSON and self-contained HTML, with a
//!   baseline comparison).
//!
//! Times are integers: latencies in microseconds, instants in milliseconds since the Unix
//! epoch. They become milliseconds (as `f64`) and RFC 3339 strings only in views.

pub mod errors;
pub mod failures;
pub mod growth;
pub mod histogram;
pub mod otel;
pub mod prometheus;
pub mod report;
pub mod snapshot;
pub mod source;
pub mod stats;
pub mod time;
pub mod view;
pub mod windows;

pub use errors::ErrorCounts;
pub use failures::{ClassDurations, FailedDurations, SqlstateClass};
pub use histogram::{CompactHistogram, Histogram};
pub use prometheus::{MetricsOptions, PromBuckets, StatsCollector};
pub use snapshot::{read_snapshot, write_snapshot, Snapshot, SnapshotEntry, SnapshotError};
pub use source::{
    fingerprint_hex, parse_fingerprint, EntryRef, HealthKind, HealthMetric, Labels, QueryInfo,
    SourceMeta, StatsSource,
};
pub use stats::{QueryStats, Sample, SampleOutcome, Sqlstate};
pub use windows::{Window, WindowConfig, Windows};

#[cfg(test)]
mod tests;
