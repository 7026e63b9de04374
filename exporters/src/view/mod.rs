//! The JSON views of a [`StatsSource`]: ranked rows (`/api/v1/fingerprints`), one fingerprint in
//! detail (`/api/v1/fingerprints/{fingerprint}`), and per-window time series
//! (`/api/v1/series`). They are a presentation — fingerprints as 16 hex digits, latencies as
//! milliseconds, instants also as RFC 3339 — of the model; the series view presents the model's
//! numeric [`crate::model::window_series`], which is what analyses (the growth detector) read.
//!
//! Every view is computed over a [`Span`]: everything since start (the cumulative, full-precision
//! histograms) or the most recent N windows (their compact histograms merged).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::histogram::{CompactHistogram, Histogram};
use crate::model::source::{fingerprint_hex, EntryRef, Labels, SourceMeta, StatsSource};
use crate::model::stats::QueryStats;
use crate::model::windows::{Window, WindowConfig};
use crate::time::{human_ms, rfc3339};

mod agg;
mod rows;
mod series;
mod types;

pub use crate::model::{Filter, Grouping};
pub use rows::{row_of, rows};
pub use series::{detail, series};
pub use types::{Bin, Detail, KeyCalls, Row, Series, Totals, WindowPoint};

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
