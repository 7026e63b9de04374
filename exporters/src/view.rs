//! The JSON views of a [`StatsSource`]: ranked rows (`/api/v1/fingerprints`), one fingerprint in
//! detail (`/api/v1/fingerprints/{fingerprint}`), and per-window time series — the interface
//! the table-growth detector reads.
//!
//! Every view is computed over a [`Span`]: everything since start (the cumulative, full-precision
//! histograms) or the most recent N windows (their compact histograms merged).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::errors::ErrorCounts;
use crate::histogram::{Bucket, CompactHistogram, Histogram};
use crate::source::{fingerprint_hex, EntryRef, Labels, SourceMeta, StatsSource};
use crate::stats::QueryStats;
use crate::time::{human_ms, rfc3339};
use crate::windows::{Window, WindowConfig};

/// Why a view's parameters were refused (each becomes a 400 in the admin API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// `sort=` names no known key.
    #[error("unknown sort key {0:?}; expected one of total_time, p99, calls, errors, mean")]
    UnknownSort(String),
    /// `window=` is longer than the windows kept.
    #[error("window {asked} is longer than the {kept} of windows kept")]
    WindowTooLong {
        /// The window asked for.
        asked: String,
        /// What is kept (count × width).
        kept: String,
    },
    /// `window=` is zero.
    #[error("window must be longer than zero")]
    WindowZero,
}

/// What rows are ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Total time spent (the default).
    #[default]
    TotalTime,
    /// 99th percentile latency.
    P99,
    /// Number of calls.
    Calls,
    /// Number of failures.
    Errors,
    /// Mean latency.
    Mean,
}

impl SortKey {
    /// Every key, in the order `pgscope top` cycles through them.
    pub const ALL: [SortKey; 5] = [
        SortKey::TotalTime,
        SortKey::P99,
        SortKey::Calls,
        SortKey::Errors,
        SortKey::Mean,
    ];

    /// Parses `total_time`, `p99`, `calls`, `errors` or `mean`.
    pub fn parse(text: &str) -> Result<SortKey, ViewError> {
        SortKey::ALL
            .into_iter()
            .find(|key| key.as_str() == text)
            .ok_or_else(|| ViewError::UnknownSort(text.to_owned()))
    }

    /// The key's name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::TotalTime => "total_time",
            SortKey::P99 => "p99",
            SortKey::Calls => "calls",
            SortKey::Errors => "errors",
            SortKey::Mean => "mean",
        }
    }

    fn value(self, row: &Row) -> f64 {
        match self {
            SortKey::TotalTime => row.total_ms,
            SortKey::P99 => row.p99_ms,
            SortKey::Calls => row.calls as f64,
            SortKey::Errors => row.error_count as f64,
            SortKey::Mean => row.mean_ms,
        }
    }
}

/// The time covered by a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Span {
    /// Since recording started or was last reset.
    #[default]
    Cumulative,
    /// The most recent `windows` windows, the current one included.
    Recent {
        /// How many windows.
        windows: u64,
    },
}

impl Span {
    /// The span covering the last `ms` milliseconds: enough windows to cover it.
    pub fn last(ms: u64, config: &WindowConfig) -> Result<Span, ViewError> {
        if ms == 0 {
            return Err(ViewError::WindowZero);
        }
        let width = config.width_ms.max(1);
        let windows = ms.div_ceil(width);
        if windows > config.count as u64 {
            return Err(ViewError::WindowTooLong {
                asked: human_ms(ms),
                kept: human_ms(width.saturating_mul(config.count as u64)),
            });
        }
        Ok(Span::Recent { windows })
    }

    /// A label such as `cumulative` or `last 5m`.
    pub fn describe(self, config: &WindowConfig) -> String {
        match self {
            Span::Cumulative => "cumulative".to_owned(),
            Span::Recent { windows } => {
                format!("last {}", human_ms(windows.saturating_mul(config.width_ms)))
            }
        }
    }
}

/// Which entries a view includes; `None` matches anything.
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

/// Parameters of a ranked list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Ranking.
    pub sort: SortKey,
    /// At most this many rows.
    pub limit: usize,
    /// Which entries.
    pub filter: Filter,
    /// Which time.
    pub span: Span,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            sort: SortKey::TotalTime,
            limit: 50,
            filter: Filter::default(),
            span: Span::Cumulative,
        }
    }
}

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
    /// Total time, ms.
    pub total_ms: f64,
    /// Mean latency, ms.
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
    /// Failures.
    pub errors: u64,
    /// Skipped queries.
    pub skipped: u64,
    /// Rows from command tags.
    pub rows: u64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Total time, ms.
    pub total_ms: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
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

/// How [`series`] groups entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One series per fingerprint × database × user × application.
    PerKey,
    /// One series per fingerprint × database (what relates to a database's tables).
    PerDatabase,
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

pub(crate) fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn ms_f(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}

/// Sums over a span of one or more entries.
#[derive(Debug, Default)]
struct Agg {
    calls: u64,
    errors: ErrorCounts,
    skipped: u64,
    rows: u64,
    total_us: u64,
    first_ms: u64,
    last_ms: u64,
}

impl Agg {
    fn add_window(&mut self, window: &Window) {
        self.calls += window.calls;
        self.errors.merge(&window.errors);
        self.skipped += window.skipped;
        self.rows += window.rows;
        self.total_us = self.total_us.saturating_add(window.total_us);
    }

    fn add_cumulative(&mut self, stats: &QueryStats) {
        self.calls += stats.calls;
        self.errors.merge(&stats.errors);
        self.skipped += stats.skipped;
        self.rows += stats.rows;
        self.total_us = self.total_us.saturating_add(stats.total_us);
    }

    fn add_seen(&mut self, stats: &QueryStats) {
        if self.first_ms == 0 || (stats.first_seen_ms != 0 && stats.first_seen_ms < self.first_ms) {
            self.first_ms = stats.first_seen_ms;
        }
        self.last_ms = self.last_ms.max(stats.last_seen_ms);
    }
}

/// A latency distribution of either precision.
#[derive(Debug)]
enum Dist<'a> {
    Borrowed(&'a Histogram),
    Full(Histogram),
    Compact(CompactHistogram),
}

impl Dist<'_> {
    fn quantile(&self, q: f64) -> Option<u64> {
        match self {
            Dist::Borrowed(h) => h.quantile(q),
            Dist::Full(h) => h.quantile(q),
            Dist::Compact(h) => h.quantile(q),
        }
    }

    fn max_us(&self) -> u64 {
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
    while decade < crate::histogram::MAX_US {
        for step in [1, 2, 5] {
            let bound = decade * step;
            if bound < crate::histogram::MAX_US {
                bounds.push(bound);
            }
        }
        decade *= 10;
    }
    bounds.push(crate::histogram::MAX_US);
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
fn make_row(entry: &EntryRef<'_>, agg: &Agg, dist: &Dist<'_>, distribution: bool) -> Row {
    let per_call = |x: f64| if agg.calls == 0 { 0.0 } else { x / agg.calls as f64 };
    let q = |q: f64| ms(dist.quantile(q).unwrap_or(0));
    Row {
        fingerprint: fingerprint_hex(entry.fingerprint),
        database: entry.labels.database.to_owned(),
        user: entry.labels.user.to_owned(),
        application: entry.labels.application.to_owned(),
        query: entry.info.query.clone(),
        summary: entry.info.summary.clone(),
        operation: entry.info.operation.clone(),
        tables: entry.info.tables.clone(),
        calls: agg.calls,
        errors: agg.errors.to_map(),
        error_count: agg.errors.total(),
        skipped: agg.skipped,
        rows: agg.rows,
        rows_per_call: (per_call(agg.rows as f64) * 1000.0).round() / 1000.0,
        total_ms: ms(agg.total_us),
        mean_ms: ms_f(per_call(agg.total_us as f64)),
        p50_ms: q(0.5),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        max_ms: ms(dist.max_us()),
        first_seen: rfc3339(agg.first_ms),
        last_seen: rfc3339(agg.last_ms),
        distribution: if distribution { dist.bins() } else { Vec::new() },
    }
}

/// The row of one entry over `span`; `None` when it had no activity in the span.
pub fn row_of(entry: &EntryRef<'_>, span: Span, meta: &SourceMeta, distribution: bool) -> Option<Row> {
    let mut agg = Agg::default();
    agg.add_seen(entry.stats);
    let dist = match span {
        Span::Cumulative => {
            agg.add_cumulative(entry.stats);
            Dist::Borrowed(&entry.stats.histogram)
        }
        Span::Recent { windows } => {
            let mut merged = CompactHistogram::new();
            for window in entry.stats.windows.recent(&meta.windows, meta.taken_at_ms, windows) {
                agg.add_window(window);
                merged.merge(&window.histogram);
            }
            Dist::Compact(merged)
        }
    };
    (agg.calls + agg.skipped > 0).then(|| make_row(entry, &agg, &dist, distribution))
}

/// The ranked rows of `source` for `query`, with their totals.
pub fn rows(source: &dyn StatsSource, query: &Query, distribution: bool) -> (Vec<Row>, Totals) {
    let meta = source.meta();
    let mut rows = Vec::new();
    let mut totals = Totals::default();
    source.for_each_entry(&mut |entry| {
        if !query.filter.matches(&entry.labels) {
            return;
        }
        if let Some(row) = row_of(&entry, query.span, &meta, distribution) {
            totals.entries += 1;
            totals.calls += row.calls;
            totals.errors += row.error_count;
            totals.total_ms += row.total_ms;
            rows.push(row);
        }
    });
    totals.total_ms = (totals.total_ms * 1000.0).round() / 1000.0;
    let key = query.sort;
    rows.sort_by(|a, b| {
        key.value(b)
            .total_cmp(&key.value(a))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
            .then_with(|| a.database.cmp(&b.database))
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.application.cmp(&b.application))
    });
    rows.truncate(query.limit);
    (rows, totals)
}

/// The window point of `window` (or several merged: `windows` share an index).
fn point(config: &WindowConfig, now_ms: u64, windows: &[&Window]) -> Option<WindowPoint> {
    let first = windows.first()?;
    let mut agg = Agg::default();
    let mut merged = CompactHistogram::new();
    for window in windows {
        agg.add_window(window);
        merged.merge(&window.histogram);
    }
    let start_ms = config.start_ms(first.index);
    let per_call = |x: f64| if agg.calls == 0 { 0.0 } else { x / agg.calls as f64 };
    let q = |q: f64| ms(merged.quantile(q).unwrap_or(0));
    Some(WindowPoint {
        start_ms,
        start: rfc3339(start_ms),
        width_ms: config.width_ms,
        complete: start_ms.saturating_add(config.width_ms) <= now_ms,
        calls: agg.calls,
        errors: agg.errors.total(),
        skipped: agg.skipped,
        rows: agg.rows,
        rows_per_call: (per_call(agg.rows as f64) * 1000.0).round() / 1000.0,
        total_ms: ms(agg.total_us),
        mean_ms: ms_f(per_call(agg.total_us as f64)),
        p50_ms: q(0.5),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        max_ms: ms(merged.max_us()),
    })
}

/// Window points of a set of entries' windows, merged by window, oldest first; only windows
/// still kept at the source's `taken_at`.
fn points<'a>(meta: &SourceMeta, windows: impl Iterator<Item = &'a Window>) -> Vec<WindowPoint> {
    let mut by_index: BTreeMap<u64, Vec<&Window>> = BTreeMap::new();
    for window in windows {
        if meta
            .windows
            .is_recent(window.index, meta.taken_at_ms, meta.windows.count as u64)
        {
            by_index.entry(window.index).or_default().push(window);
        }
    }
    by_index
        .values()
        .filter_map(|ws| point(&meta.windows, meta.taken_at_ms, ws))
        .collect()
}

/// One fingerprint in detail over `span`, merging every key that passes `filter`; `None` when
/// no such entry has activity in the span.
pub fn detail(
    source: &dyn StatsSource,
    fingerprint: u64,
    filter: &Filter,
    span: Span,
) -> Option<Detail> {
    let meta = source.meta();
    let mut agg = Agg::default();
    let mut full = Histogram::new();
    let mut compact = CompactHistogram::new();
    let mut keys = Vec::new();
    let mut windows: Vec<Window> = Vec::new();
    let mut identity: Option<(crate::source::QueryInfo, String, String, String)> = None;
    source.for_each_entry(&mut |entry| {
        if entry.fingerprint != fingerprint || !filter.matches(&entry.labels) {
            return;
        }
        agg.add_seen(entry.stats);
        let before = agg.calls + agg.skipped;
        match span {
            Span::Cumulative => {
                agg.add_cumulative(entry.stats);
                full.merge(&entry.stats.histogram);
            }
            Span::Recent { windows: recent } => {
                for window in entry.stats.windows.recent(&meta.windows, meta.taken_at_ms, recent) {
                    agg.add_window(window);
                    compact.merge(&window.histogram);
                }
            }
        }
        keys.push(KeyCalls {
            database: entry.labels.database.to_owned(),
            user: entry.labels.user.to_owned(),
            application: entry.labels.application.to_owned(),
            calls: agg.calls + agg.skipped - before,
        });
        windows.extend(entry.stats.windows.iter().cloned());
        if identity.is_none() {
            identity = Some((
                entry.info.clone(),
                entry.labels.database.to_owned(),
                entry.labels.user.to_owned(),
                entry.labels.application.to_owned(),
            ));
        }
    });
    if agg.calls + agg.skipped == 0 {
        return None;
    }
    let (info, database, user, application) = identity?;
    let merged_label = |one: String, all: fn(&KeyCalls) -> &String| {
        if keys.iter().all(|k| *all(k) == one) {
            one
        } else {
            "*".to_owned()
        }
    };
    let database = merged_label(database, |k| &k.database);
    let user = merged_label(user, |k| &k.user);
    let application = merged_label(application, |k| &k.application);
    let entry = EntryRef {
        fingerprint,
        labels: Labels {
            database: &database,
            user: &user,
            application: &application,
        },
        info: &info,
        stats: &QueryStats::default(),
    };
    let dist = match span {
        Span::Cumulative => Dist::Full(full),
        Span::Recent { .. } => Dist::Compact(compact),
    };
    keys.sort_by(|a, b| b.calls.cmp(&a.calls));
    Some(Detail {
        row: make_row(&entry, &agg, &dist, true),
        keys,
        windows: points(&meta, windows.iter()),
    })
}

/// The per-window series of every entry passing `filter`, grouped as asked, each oldest first.
/// This is what trend analyses (the table-growth detector) read: only kept windows appear, and
/// the current one is marked incomplete.
pub fn series(source: &dyn StatsSource, filter: &Filter, grouping: Grouping) -> Vec<Series> {
    let meta = source.meta();
    type Group = (Vec<String>, Vec<Window>);
    let mut groups: BTreeMap<(u64, String, String, String), Group> = BTreeMap::new();
    source.for_each_entry(&mut |entry| {
        if !filter.matches(&entry.labels) {
            return;
        }
        let (user, application) = match grouping {
            Grouping::PerKey => (entry.labels.user.to_owned(), entry.labels.application.to_owned()),
            Grouping::PerDatabase => ("*".to_owned(), "*".to_owned()),
        };
        let key = (entry.fingerprint, entry.labels.database.to_owned(), user, application);
        let group = groups
            .entry(key)
            .or_insert_with(|| (entry.info.tables.clone(), Vec::new()));
        group.1.extend(
            entry
                .stats
                .windows
                .iter()
                .filter(|w| {
                    meta.windows
                        .is_recent(w.index, meta.taken_at_ms, meta.windows.count as u64)
                })
                .cloned(),
        );
    });
    groups
        .into_iter()
        .map(|((fingerprint, database, user, application), (tables, windows))| Series {
            fingerprint: fingerprint_hex(fingerprint),
            database,
            user,
            application,
            tables,
            points: points(&meta, windows.iter()),
        })
        .collect()
}
