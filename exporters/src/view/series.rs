//! Details and per-window series.

use super::*;

use super::agg::{make_row, ms, ms_f, Agg, Dist};

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
    let per_call = |x: f64| {
        if agg.calls == 0 {
            0.0
        } else {
            x / agg.calls as f64
        }
    };
    let [p50, p95, p99] = merged
        .quantiles([0.5, 0.95, 0.99])
        .map(|q| ms(q.unwrap_or(0)));
    Some(WindowPoint {
        start_ms,
        start: rfc3339(start_ms),
        width_ms: config.width_ms,
        complete: start_ms.saturating_add(config.width_ms) <= now_ms,
        calls: agg.calls,
        batched_calls: agg.batched_calls,
        errors: agg.errors.total(),
        skipped: agg.skipped,
        rows: agg.rows,
        rows_per_call: (per_call(agg.rows as f64) * 1000.0).round() / 1000.0,
        total_ms: ms(agg.total_us),
        mean_ms: ms_f(agg.mean_us()),
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: p99,
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
        let group = groups.entry(key).or_insert_with(|| {
            let tables = entry.info.tables.iter().map(ToString::to_string).collect();
            (tables, Vec::new())
        });
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
        .map(
            |((fingerprint, database, user, application), (tables, windows))| Series {
                fingerprint: fingerprint_hex(fingerprint),
                database,
                user,
                application,
                tables,
                points: points(&meta, windows.iter()),
            },
        )
        .collect()
}
