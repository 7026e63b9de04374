//! Ranked rows.

use super::*;

use super::agg::{make_row, Agg, Dist};

/// The row of one entry over `span`; `None` when it had no activity in the span.
pub fn row_of(
    entry: &EntryRef<'_>,
    span: Span,
    meta: &SourceMeta,
    distribution: bool,
) -> Option<Row> {
    let mut agg = Agg::default();
    agg.add_seen(entry.stats);
    let dist = match span {
        Span::Cumulative => {
            agg.add_cumulative(entry.stats);
            Dist::Borrowed(&entry.stats.histogram)
        }
        Span::Recent { windows } => {
            let mut merged = CompactHistogram::new();
            for window in entry
                .stats
                .windows
                .recent(&meta.windows, meta.taken_at_ms, windows)
            {
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
