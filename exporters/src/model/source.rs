//! [`StatsSource`]: what every exporter reads — the live recorder and a loaded
//! snapshot (`crate::snapshot`) alike.
//!
//! A source hands out its entries one at a time through a callback, so the live recorder can
//! lend each entry under its shard lock for just as long as the exporter needs, and nothing is
//! copied wholesale: the Prometheus collector, the JSON views, the report and the snapshot
//! writer each take from an entry only what they need.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::stats::QueryStats;
use super::windows::WindowConfig;

/// What is known about a query shape besides its numbers (from its fingerprint analysis).
///
/// The texts are shared (`Arc<str>`): the live recorder's entries of one shape — one per
/// database × user × application — and the shape's analysis hold the same strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryInfo {
    /// The normalized text (literals replaced), cut to the configured maximum length.
    pub query: Arc<str>,
    /// A low-cardinality summary such as `SELECT pgbench_accounts`.
    pub summary: Arc<str>,
    /// The operation, e.g. `SELECT`.
    pub operation: Arc<str>,
    /// Tables the query references.
    pub tables: Vec<Arc<str>>,
}

/// The connection labels of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Database name.
    pub database: &'a str,
    /// User name.
    pub user: &'a str,
    /// `application_name`.
    pub application: &'a str,
}

/// Which entries a reader takes, by their labels; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this database.
    pub database: Option<String>,
    /// Only this user.
    pub user: Option<String>,
    /// Only this application_name.
    pub application: Option<String>,
}

impl Filter {
    /// Whether `labels` pass.
    pub fn matches(&self, labels: &Labels<'_>) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.database, labels.database)
            && ok(&self.user, labels.user)
            && ok(&self.application, labels.application)
    }
}

/// One entry lent by a [`StatsSource`]: a fingerprint × database × user × application.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// The 64-bit fingerprint.
    pub fingerprint: u64,
    /// Its connection labels.
    pub labels: Labels<'a>,
    /// Its query text and analysis.
    pub info: &'a QueryInfo,
    /// Its numbers.
    pub stats: &'a QueryStats,
}

/// Facts about a source as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMeta {
    /// When this view was taken, ms since the epoch ("now" for window selection).
    pub taken_at_ms: u64,
    /// Start of recording, or the last reset, ms since the epoch.
    pub since_ms: u64,
    /// The window layout.
    pub windows: WindowConfig,
    /// Whether recording is on.
    pub enabled: bool,
    /// Entries held.
    pub entries: u64,
    /// The bound on entries.
    pub max_entries: u64,
    /// Entries evicted to respect the bound since the process started.
    pub evictions: u64,
}

/// Whether a health metric only goes up or goes both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthKind {
    /// Monotonic since start.
    Counter,
    /// A current level.
    Gauge,
}

/// One of pgscope's own health figures, exported as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthMetric {
    /// Metric name (`pgscope_client_connections`).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: HealthKind,
    /// Constant labels of this sample (may be empty).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// A source of recorded statistics.
pub trait StatsSource: Send + Sync {
    /// Facts about the source.
    fn meta(&self) -> SourceMeta;

    /// Calls `visit` with each entry, one at a time, in no particular order.
    fn for_each_entry(&self, visit: &mut dyn FnMut(EntryRef<'_>));

    /// pgscope's own health figures (connections, bytes …); none by default.
    fn health(&self) -> Vec<HealthMetric> {
        Vec::new()
    }
}

/// The text form of a fingerprint, as `pgscope fingerprint` prints it: 16 lower-case hex digits.
pub fn fingerprint_hex(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// Parses a fingerprint written as 1 to 16 hex digits (an optional `0x` allowed).
pub fn parse_fingerprint(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}
