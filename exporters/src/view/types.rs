//! The serialized shapes of the views.

use super::*;

/// A bin of a latency-distribution chart: values up to `le_ms` (and above the previous bin).

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Upper bound, ms.
    pub le_ms: f64,
    /// Calls in the bin.
    pub count: u64,
}

/// One entry of `/api/v1/fingerprints`: a fingerprint × database × user × application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// Database.
    pub database: String,
    /// User.
    pub user: String,
    /// application_name.
    pub application: String,
    /// Normalized text.
    pub query: String,
    /// Low-cardinality summary.
    pub summary: String,
    /// Operation.
    pub operation: String,
    /// Tables referenced.
    pub tables: Vec<String>,
    /// Completed executions.
    pub calls: u64,
    /// Calls among `calls` whose latency was not observed apart — statements of a
    /// multi-statement simple `Query` (see the README's "What latency means"). The latency
    /// figures below cover the other calls only.
    #[serde(default)]
    pub batched_calls: u64,
    /// For the batched calls: the mean time of the whole `Query` messages they ran in, from
    /// when pgscope wrote the `Query` upstream to the server's `ReadyForQuery` — the batch's
    /// latency, which its statements share (absent without batched calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_mean_ms: Option<f64>,
    /// Failures by SQLSTATE.
    pub errors: BTreeMap<String, u64>,
    /// All failures.
    pub error_count: u64,
    /// Skipped queries (not calls).
    pub skipped: u64,
    /// Rows from command tags.
    pub rows: u64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Total time of the timed calls, ms.
    pub total_ms: f64,
    /// Mean latency of the timed calls, ms.
    pub mean_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// First event (RFC 3339, UTC).
    pub first_seen: String,
    /// Latest event (RFC 3339, UTC).
    pub last_seen: String,
    /// The latency distribution (1-2-5 bins), when asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribution: Vec<Bin>,
}

/// A fingerprint in detail: its row (all matching keys merged), the keys, the distribution and
/// the window series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// The merged row; its `distribution` is filled.
    #[serde(flatten)]
    pub row: Row,
    /// Each database × user × application it was seen with, and its calls.
    pub keys: Vec<KeyCalls>,
    /// Per-window figures, oldest first, over all kept windows.
    pub windows: Vec<WindowPoint>,
}

/// The calls of one key of a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCalls {
    /// Database.
    pub database: String,
    /// User.
    pub user: String,
    /// application_name.
    pub application: String,
    /// Completed executions.
    pub calls: u64,
}

/// One window of a time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPoint {
    /// Window start, ms since the epoch.
    pub start_ms: u64,
    /// Window start (RFC 3339, UTC).
    pub start: String,
    /// Window width, ms.
    pub width_ms: u64,
    /// Whether the window had ended when the view was taken.
    pub complete: bool,
    /// Completed executions.
    pub calls: u64,
    /// Calls among `calls` whose latency was not observed apart (kept out of the latencies).
    #[serde(default)]
    pub batched_calls: u64,
    /// Failures.
    pub errors: u64,
    /// Skipped queries.
    pub skipped: u64,
    /// Rows from command tags.
    pub rows: u64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Total time of the timed calls, ms.
    pub total_ms: f64,
    /// Mean latency of the timed calls, ms.
    pub mean_ms: f64,
    /// 10th percentile, ms (the fastest tenth of the calls).
    #[serde(default)]
    pub p10_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
}

/// The window series of one key (or of a fingerprint in one database, users merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// Database.
    pub database: String,
    /// User (`*` when merged).
    pub user: String,
    /// application_name (`*` when merged).
    pub application: String,
    /// Tables referenced.
    pub tables: Vec<String>,
    /// Windows with activity, oldest first.
    pub points: Vec<WindowPoint>,
}

/// Totals over every entry a query's filter and span select.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Entries selected (with at least one call or skip in the span).
    pub entries: u64,
    /// Calls.
    pub calls: u64,
    /// Failures.
    pub errors: u64,
    /// Total time, ms.
    pub total_ms: f64,
}
