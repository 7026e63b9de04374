//! The top-slow-query profile, in the spirit of pt-query-digest: the top N entries by a sort key
//! (total time by default) with rank, share of total time, calls, time per call, p50/p95/p99/max,
//! errors, rows per call, summary and normalized text — optionally compared with a saved
//! baseline snapshot ([`diff`]). One [`Report`] value is rendered as JSON (serde), text
//! ([`text::render`]) or one self-contained HTML file ([`html::render`]).

pub mod diff;
pub mod growth;
pub mod growth_html;
pub mod html;
pub mod replay;
mod svg;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::model::source::StatsSource;
use crate::time::rfc3339;
use crate::view::{self, Query, Row, Totals};

pub use diff::{compare, compare_all, Change, ChangeStatus, Comparison};
pub use replay::{ReplayFailure, ReplayStall, ReplaySummary};

/// One ranked row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedRow {
    /// 1-based rank.
    pub rank: usize,
    /// Share of the total time of all selected entries (0..=1).
    pub share: f64,
    /// The entry's figures, with its latency distribution.
    #[serde(flatten)]
    pub row: Row,
}

/// The recorder's state when the report was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderState {
    /// Whether recording is on.
    pub enabled: bool,
    /// Entries held.
    pub entries: u64,
    /// The bound on entries.
    pub max_entries: u64,
    /// Entries evicted since the process started.
    pub evictions: u64,
}

/// A profile of the top queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Degrading hot paths (the growth detector's flags), when the source has a monitor; first,
    /// as in every other format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<crate::growth::GrowthReport>,
    /// What a replay did, for the report of `pgscope replay` (whose baseline is the capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplaySummary>,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// Start of recording or last reset (RFC 3339).
    pub since: String,
    /// What time it covers: `cumulative` or `last 1h`.
    pub span: String,
    /// The sort key's name.
    pub sort: String,
    /// Totals over all selected entries (not only the rows shown).
    pub totals: Totals,
    /// The recorder's state.
    pub recorder: RecorderState,
    /// The top rows.
    pub rows: Vec<RankedRow>,
    /// The comparison with a baseline, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Comparison>,
}

/// The report of `source` for `query` (its `limit` is the number of rows).
pub fn build(source: &dyn StatsSource, query: &Query) -> Report {
    let meta = source.meta();
    let (rows, totals) = view::rows(source, query, true);
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| RankedRow {
            rank: i + 1,
            share: if totals.total_ms > 0.0 {
                row.total_ms / totals.total_ms
            } else {
                0.0
            },
            row,
        })
        .collect();
    Report {
        generated_at: rfc3339(meta.taken_at_ms),
        since: rfc3339(meta.since_ms),
        span: query.span.describe(&meta.windows),
        sort: query.sort.as_str().to_owned(),
        totals,
        recorder: RecorderState {
            enabled: meta.enabled,
            entries: meta.entries,
            max_entries: meta.max_entries,
            evictions: meta.evictions,
        },
        rows,
        baseline: None,
        growth: None,
        replay: None,
    }
}

/// Formats milliseconds for tables: three decimals below 10 s, else whole.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms < 10_000.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.0}")
    }
}
