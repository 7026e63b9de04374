//! Details and per-window series.

use super::*;

use super::agg::{make_row, ms, ms_f, Agg, Dist};
use crate::model::series::{merged_windows, window_series, WindowFigures};

/// A window of the model's series as the JSON view shows it: milliseconds and RFC 3339.
fn point(figures: &WindowFigures) -> WindowPoint {
    WindowPoint {
        start_ms: figures.start_ms,
        start: rfc3339(figures.start_ms),
        width_ms: figures.width_ms,
        complete: figures.complete,
        calls: figures.calls,
        batched_calls: figures.batched_calls,
        errors: figures.errors,
        skipped: figures.skipped,
        rows: figures.rows,
        rows_per_call: (figures.rows_per_call() * 1000.0).round() / 1000.0,
        total_ms: ms(figures.total_us),
        mean_ms: ms_f(figures.mean_us()),
        p10_ms: ms(figures.p10_us),
        p50_ms: ms(figures.p50_us),
        p95_ms: ms(figures.p95_us),
        p99_ms: ms(figures.p99_us),
        max_ms: ms(figures.max_us),
    }
}

/// Window points of a set of entries' windows, merged by window, oldest first; only windows
/// still kept at the source's `taken_at`.
fn points<'a>(meta: &SourceMeta, windows: impl Iterator<Item = &'a Window>) -> Vec<WindowPoint> {
    merged_windows(meta, windows).iter().map(point).collect()
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
    let mut identity: Option<(crate::model::source::QueryInfo, String, String, String)> = None;
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
                for window in entry
                    .stats
                    .windows
                    .recent(&meta.windows, meta.taken_at_ms, recent)
                {
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
    keys.sort_by_key(|k| std::cmp::Reverse(k.calls));
    Some(Detail {
        row: make_row(&entry, &agg, &dist, true),
        keys,
        windows: points(&meta, windows.iter()),
    })
}

/// The per-window series of every entry passing `filter`, grouped as asked, each oldest first:
/// the model's [`window_series`] as the JSON API shows it (the current window is marked
/// incomplete; only kept windows appear).
pub fn series(source: &dyn StatsSource, filter: &Filter, grouping: Grouping) -> Vec<Series> {
    window_series(source, filter, grouping)
        .into_iter()
        .map(|s| Series {
            fingerprint: fingerprint_hex(s.fingerprint),
            database: s.database,
            user: s.user,
            application: s.application,
            tables: s.info.tables.iter().map(ToString::to_string).collect(),
            points: s.windows.iter().map(point).collect(),
        })
        .collect()
}
