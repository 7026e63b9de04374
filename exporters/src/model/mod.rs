//! The statistics model: what pgscope records per query shape, and how it is read. A leaf of
//! the crate: nothing here imports a form it is shown in (Prometheus, the JSON views, snapshots,
//! reports all read the model, never the other way round).
//!
//! - [`stats`]: per query shape a [`QueryStats`] — calls, errors by SQLSTATE ([`errors`]),
//!   skipped, rows, total/min/max time, first and last seen, a full-precision latency
//!   [`Histogram`] ([`histogram`]), exact counts per duration bucket ([`buckets`]), the
//!   durations of failed calls per SQLSTATE class ([`failures`]), and a ring of rolling time
//!   [`Window`]s ([`windows`]) each with a [`CompactHistogram`]. Recording a sample is O(1)
//!   and allocation-free once a window exists.
//! - [`source`]: the [`StatsSource`] trait every reader goes through — the live recorder and a
//!   loaded snapshot alike — lending entries one at a time, and the [`Filter`] that selects
//!   entries by their labels.
//! - [`series`]: the numeric per-window series of a group of entries ([`window_series`]),
//!   fingerprints as `u64` and durations in µs, for analyses that read trends (the growth
//!   detector) and for the JSON series view that presents them.
//!
//! Times are integers: latencies in microseconds, instants in milliseconds since the Unix
//! epoch.

pub mod buckets;
pub mod errors;
pub mod failures;
pub mod histogram;
pub mod series;
pub mod source;
pub mod stats;
pub mod windows;

pub use buckets::{DurationBuckets, BUCKETS_SECONDS};
pub use errors::ErrorCounts;
pub use failures::{ClassDurations, FailedDurations, SqlstateClass};
pub use histogram::{CompactHistogram, Histogram};
pub use series::{merged_windows, window_series, Grouping, WindowFigures, WindowSeries};
pub use source::{
    fingerprint_hex, parse_fingerprint, EntryRef, Filter, HealthKind, HealthMetric, Labels,
    QueryInfo, SourceMeta, StatsSource,
};
pub use stats::{QueryStats, Sample, SampleOutcome, Sqlstate};
pub use windows::{Window, WindowConfig, Windows};
