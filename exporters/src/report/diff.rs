//! Comparing a report with a baseline snapshot: for each of the report's rows, how calls, p95
//! and total time changed, with new entries and regressions listed first.
//!
//! The baseline is read over the same span relative to its own save time (cumulative, or its
//! last hour when the report covers the last hour), and entries are matched on fingerprint ×
//! database × user × application.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::source::StatsSource;
use crate::time::rfc3339;
use crate::view::{self, Query, Row};

use super::RankedRow;

/// p95 must grow by at least this factor to count as a regression (or shrink by it to count
/// as an improvement)…
pub const REGRESSION_RATIO: f64 = 1.2;
/// …and by at least this many milliseconds, so that noise on microsecond queries is not flagged.
pub const REGRESSION_MIN_MS: f64 = 0.1;

/// How an entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Absent from the baseline.
    New,
    /// p95 grew beyond the thresholds.
    Regressed,
    /// p95 shrank beyond the thresholds.
    Improved,
    /// Neither.
    Unchanged,
}

impl ChangeStatus {
    /// Upper-case label for tables.
    pub fn label(self) -> &'static str {
        match self {
            ChangeStatus::New => "NEW",
            ChangeStatus::Regressed => "REGRESSED",
            ChangeStatus::Improved => "IMPROVED",
            ChangeStatus::Unchanged => "unchanged",
        }
    }
}

/// One entry compared with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Its rank in the report.
    pub rank: usize,
    /// Fingerprint.
    pub fingerprint: String,
    /// Database.
    pub database: String,
    /// User.
    pub user: String,
    /// application_name.
    pub application: String,
    /// Summary.
    pub summary: String,
    /// What happened.
    pub status: ChangeStatus,
    /// Calls in the baseline (0 when new).
    pub calls_before: u64,
    /// Calls now.
    pub calls_after: u64,
    /// p95 in the baseline, ms.
    pub p95_before_ms: f64,
    /// p95 now, ms.
    pub p95_after_ms: f64,
    /// p95 now ÷ before (absent when new).
    pub p95_ratio: Option<f64>,
    /// Total time in the baseline, ms.
    pub total_before_ms: f64,
    /// Total time now, ms.
    pub total_after_ms: f64,
}

/// The comparison of a report with a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// When the baseline was saved (RFC 3339).
    pub baseline_taken_at: String,
    /// New entries first, then regressions (largest p95 growth first), then the rest by rank.
    pub changes: Vec<Change>,
}

fn key(row: &Row) -> (String, String, String, String) {
    (
        row.fingerprint.clone(),
        row.database.clone(),
        row.user.clone(),
        row.application.clone(),
    )
}

/// Compares the report's `rows` with `baseline` read over `query`'s span and filter.
pub fn compare(rows: &[RankedRow], baseline: &dyn StatsSource, query: &Query) -> Comparison {
    let all = Query {
        limit: usize::MAX,
        ..query.clone()
    };
    let (before, _) = view::rows(baseline, &all, false);
    let before: HashMap<_, Row> = before.into_iter().map(|row| (key(&row), row)).collect();
    let mut changes: Vec<Change> = rows
        .iter()
        .map(|ranked| {
            let row = &ranked.row;
            let old = before.get(&key(row));
            let status = match old {
                None => ChangeStatus::New,
                Some(old) => classify(old.p95_ms, row.p95_ms),
            };
            Change {
                rank: ranked.rank,
                fingerprint: row.fingerprint.clone(),
                database: row.database.clone(),
                user: row.user.clone(),
                application: row.application.clone(),
                summary: row.summary.clone(),
                status,
                calls_before: old.map_or(0, |o| o.calls),
                calls_after: row.calls,
                p95_before_ms: old.map_or(0.0, |o| o.p95_ms),
                p95_after_ms: row.p95_ms,
                p95_ratio: old
                    .filter(|o| o.p95_ms > 0.0)
                    .map(|o| (row.p95_ms / o.p95_ms * 1000.0).round() / 1000.0),
                total_before_ms: old.map_or(0.0, |o| o.total_ms),
                total_after_ms: row.total_ms,
            }
        })
        .collect();
    changes.sort_by(|a, b| {
        let growth = |c: &Change| c.p95_after_ms - c.p95_before_ms;
        a.status.cmp(&b.status).then_with(|| match a.status {
            ChangeStatus::Regressed => growth(b).total_cmp(&growth(a)),
            _ => a.rank.cmp(&b.rank),
        })
    });
    Comparison {
        baseline_taken_at: rfc3339(baseline.meta().taken_at_ms),
        changes,
    }
}

fn classify(before: f64, after: f64) -> ChangeStatus {
    if after >= before * REGRESSION_RATIO && after - before >= REGRESSION_MIN_MS {
        ChangeStatus::Regressed
    } else if before >= after * REGRESSION_RATIO && before - after >= REGRESSION_MIN_MS {
        ChangeStatus::Improved
    } else {
        ChangeStatus::Unchanged
    }
}
