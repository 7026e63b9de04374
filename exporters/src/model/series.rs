//! Per-window series in numbers: for each group of entries (one key, or a fingerprint in one
//! database), the recorder windows still kept, merged by window, oldest first. Counts and
//! durations are integers (µs), the fingerprint is its `u64`, and the current window is marked
//! incomplete. Trend analyses (the growth detector) read these; the JSON series view
//! (`crate::view::series`) is one presentation of them.

use std::collections::BTreeMap;

use super::histogram::CompactHistogram;
use super::source::{Filter, QueryInfo, SourceMeta, StatsSource};
use super::windows::Window;

/// How [`window_series`] groups entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One series per fingerprint × database × user × application.
    PerKey,
    /// One series per fingerprint × database (what relates to a database's tables).
    PerDatabase,
}

/// One window of a series: the windows of a group's entries that share an index, merged.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFigures {
    /// Window start, ms since the epoch.
    pub start_ms: u64,
    /// Window width, ms.
    pub width_ms: u64,
    /// Whether the window had ended when the source was read.
    pub complete: bool,
    /// Completed executions.
    pub calls: u64,
    /// Calls among `calls` whose latency was not observed apart (kept out of the latencies).
    pub batched_calls: u64,
    /// Failures.
    pub errors: u64,
    /// Skipped queries.
    pub skipped: u64,
    /// Rows from command tags.
    pub rows: u64,
    /// Total time of the timed calls, µs.
    pub total_us: u64,
    /// 10th percentile, µs: the fastest tenth of the calls, the least delayed by contention
    /// (what the growth detector decides on).
    pub p10_us: u64,
    /// Median latency, µs (0 without timed calls).
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
}

impl WindowFigures {
    /// Calls whose latency was observed.
    pub fn timed_calls(&self) -> u64 {
        self.calls.saturating_sub(self.batched_calls)
    }

    /// Mean latency of the timed calls, µs (0 when none).
    pub fn mean_us(&self) -> f64 {
        match self.timed_calls() {
            0 => 0.0,
            timed => self.total_us as f64 / timed as f64,
        }
    }

    /// Rows per call (0 without calls).
    pub fn rows_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.rows as f64 / self.calls as f64
        }
    }
}

/// The window series of one group of entries.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSeries {
    /// The fingerprint.
    pub fingerprint: u64,
    /// Database.
    pub database: String,
    /// User (`*` when merged).
    pub user: String,
    /// application_name (`*` when merged).
    pub application: String,
    /// The query shape's text and analysis (of the group's first entry).
    pub info: QueryInfo,
    /// Windows with activity, oldest first.
    pub windows: Vec<WindowFigures>,
}

/// The window series of every entry of `source` passing `filter`, grouped as asked, in
/// fingerprint, database, user, application order.
pub fn window_series(
    source: &dyn StatsSource,
    filter: &Filter,
    grouping: Grouping,
) -> Vec<WindowSeries> {
    let meta = source.meta();
    /// Fingerprint, database, user, application.
    type Key = (u64, String, String, String);
    let mut groups: BTreeMap<Key, (QueryInfo, Vec<Window>)> = BTreeMap::new();
    source.for_each_entry(&mut |entry| {
        if !filter.matches(&entry.labels) {
            return;
        }
        let (user, application) = match grouping {
            Grouping::PerKey => (
                entry.labels.user.to_owned(),
                entry.labels.application.to_owned(),
            ),
            Grouping::PerDatabase => ("*".to_owned(), "*".to_owned()),
        };
        let key = (
            entry.fingerprint,
            entry.labels.database.to_owned(),
            user,
            application,
        );
        let group = groups
            .entry(key)
            .or_insert_with(|| (entry.info.clone(), Vec::new()));
        group.1.extend(
            entry
                .stats
                .windows
                .iter()
                .filter(|w| kept(&meta, w))
                .cloned(),
        );
    });
    groups
        .into_iter()
        .map(
            |((fingerprint, database, user, application), (info, windows))| WindowSeries {
                fingerprint,
                database,
                user,
                application,
                info,
                windows: merged_windows(&meta, windows.iter()),
            },
        )
        .collect()
}

/// Whether `window` is still kept at the source's `taken_at`.
fn kept(meta: &SourceMeta, window: &Window) -> bool {
    meta.windows
        .is_recent(window.index, meta.taken_at_ms, meta.windows.count as u64)
}

/// `windows` (of one or more entries) merged by window, oldest first; only windows still kept
/// at the source's `taken_at`.
pub fn merged_windows<'a>(
    meta: &SourceMeta,
    windows: impl Iterator<Item = &'a Window>,
) -> Vec<WindowFigures> {
    let mut by_index: BTreeMap<u64, Vec<&Window>> = BTreeMap::new();
    for window in windows.filter(|w| kept(meta, w)) {
        by_index.entry(window.index).or_default().push(window);
    }
    by_index.values().map(|same| merge(meta, same)).collect()
}

/// The windows `same` (sharing one index, at least one) as one.
fn merge(meta: &SourceMeta, same: &[&Window]) -> WindowFigures {
    let config = &meta.windows;
    let start_ms = same.first().map_or(0, |w| config.start_ms(w.index));
    let mut figures = WindowFigures {
        start_ms,
        width_ms: config.width_ms,
        complete: start_ms.saturating_add(config.width_ms) <= meta.taken_at_ms,
        calls: 0,
        batched_calls: 0,
        errors: 0,
        skipped: 0,
        rows: 0,
        total_us: 0,
        p10_us: 0,
        p50_us: 0,
        p95_us: 0,
        p99_us: 0,
        max_us: 0,
    };
    let mut merged = CompactHistogram::new();
    for window in same {
        figures.calls += window.calls;
        figures.batched_calls += window.batched_calls;
        figures.errors += window.errors.total();
        figures.skipped += window.skipped;
        figures.rows += window.rows;
        figures.total_us = figures.total_us.saturating_add(window.total_us);
        merged.merge(&window.histogram);
    }
    let [p10, p50, p95, p99] = merged
        .quantiles([0.1, 0.5, 0.95, 0.99])
        .map(|q| q.unwrap_or(0));
    figures.p10_us = p10;
    figures.p50_us = p50;
    figures.p95_us = p95;
    figures.p99_us = p99;
    figures.max_us = merged.max_us();
    figures
}
