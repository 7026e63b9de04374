//! pgscope-exporters: what pgscope's statistics *are*, and every form they are shown in.
//!
//! # Design
//!
//! The proxy's recorder decides *where* statistics live (shards, locks, eviction); this crate
//! decides *what* they are and how they are read. It knows nothing of sockets, threads or the
//! proxy, nor of OpenTelemetry (span export is the `pgscope-otel` crate).
//!
//! The crate is one model and its forms, and imports run one way only: the forms read the
//! model, the model reads no form.
//!
//! - **Model** ([`model`]): per query shape a [`QueryStats`] — counts, a full-precision latency
//!   [`Histogram`] (three significant digits, 1 µs–1 h), exact counts per duration bucket
//!   ([`DurationBuckets`]), failed durations per SQLSTATE class, and a ring of rolling time
//!   [`Window`]s each with a [`CompactHistogram`]; the [`StatsSource`] trait every reader goes
//!   through (the live recorder lends each entry under its shard lock, briefly, and a loaded
//!   [`Snapshot`] does the same, so one code path serves `/metrics`, the JSON API, live reports
//!   and reports from a saved file); and the numeric per-window series
//!   ([`model::window_series`]) that trend analyses — the growth detector — read. The
//!   histograms keep memory proportional to the latencies actually seen, which is what lets
//!   5000 fingerprints × 60 windows fit the memory budget.
//! - **Forms**: [`prometheus`] (a `prometheus::core::Collector`; the crate writes the text),
//!   [`view`] (the JSON API's rows, detail and per-window series: fingerprints as hex, times as
//!   milliseconds and RFC 3339), [`snapshot`] (the persistent form, streamed entry by entry),
//!   and [`report`] (a pt-query-digest-style profile in text, JSON and self-contained HTML, with
//!   a baseline comparison and the [`growth`] detector's findings). [`time`] holds the
//!   conversions the forms share.
//!
//! Times are integers in the model: latencies in microseconds, instants in milliseconds since
//! the Unix epoch. They become milliseconds (as `f64`) and RFC 3339 strings only in the forms.

pub mod growth;
pub mod model;
pub mod prometheus;
pub mod report;
pub mod snapshot;
pub mod time;
pub mod view;

pub use model::{
    fingerprint_hex, parse_fingerprint, ClassDurations, CompactHistogram, DurationBuckets,
    EntryRef, ErrorCounts, FailedDurations, HealthKind, HealthMetric, Histogram, Labels, QueryInfo,
    QueryStats, Sample, SampleOutcome, SourceMeta, Sqlstate, SqlstateClass, StatsSource, Window,
    WindowConfig, Windows,
};
pub use prometheus::{MetricsOptions, StatsCollector};
pub use snapshot::{read_snapshot, write_snapshot, Snapshot, SnapshotEntry, SnapshotError};

#[cfg(test)]
mod tests;
