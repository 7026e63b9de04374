//! Comparing a report with a baseline snapshot: for each of the report's rows, how calls, p95
//! and total time changed, with new entries and regressions listed first.
//!
//! The baseline is read over the same span relative to its own save time (cumulative, or its
//! last hour when the report covers the last hour), and entries are matched on fingerprint ×
//! database × user × application.
//!
//! Failures are compared at the same rate: an entry whose SQLSTATE occurs more often per call
//! than in the baseline has *new errors* (counted per SQLSTATE), so a statement that failed
//! before and fails again is no difference. [`compare_all`] (for `pgscope replay`, whose
//! baseline is the capture) also lists the baseline's entries that did not occur at all, as
//! missing.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::source::StatsSource;
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
    /// Fails with a SQLSTATE more often per call than in the baseline.
    Errors,
    /// p95 grew beyond the thresholds.
    Regressed,
    /// In the baseline, but did not occur ([`compare_all`] only).
    Missing,
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
            ChangeStatus::Errors => "ERRORS",
            ChangeStatus::Regressed => "REGRESSED",
            ChangeStatus::Missing => "MISSING",
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
    /// Failed calls in the baseline.
    #[serde(default)]
    pub errors_before: u64,
    /// Failed calls now.
    #[serde(default)]
    pub errors_after: u64,
    /// Failures beyond the baseline's rate, by SQLSTATE (see the module documentation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub new_errors: BTreeMap<String, u64>,
    /// p50 in the baseline, ms.
    #[serde(default)]
    pub p50_before_ms: f64,
    /// p50 now, ms.
    #[serde(default)]
    pub p50_after_ms: f64,
    /// p95 in the baseline, ms.
    pub p95_before_ms: f64,
    /// p95 now, ms.
    pub p95_after_ms: f64,
    /// p95 now ÷ before (absent when new).
    pub p95_ratio: Option<f64>,
    /// p99 in the baseline, ms.
    #[serde(default)]
    pub p99_before_ms: f64,
    /// p99 now, ms.
    #[serde(default)]
    pub p99_after_ms: f64,
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
    compare_with(rows, baseline, query, false)
}

/// [`compare`], and every baseline entry that does not occur in `rows` listed as
/// [`ChangeStatus::Missing`] (rank 0). `rows` must then hold every entry, not a top N.
pub fn compare_all(rows: &[RankedRow], baseline: &dyn StatsSource, query: &Query) -> Comparison {
    compare_with(rows, baseline, query, true)
}

fn compare_with(
    rows: &[RankedRow],
    baseline: &dyn StatsSource,
    query: &Query,
    missing: bool,
) -> Comparison {
    let all = Query {
        limit: usize::MAX,
        ..query.clone()
    };
    let (before, _) = view::rows(baseline, &all, false);
    let mut before: HashMap<_, Row> = before.into_iter().map(|row| (key(&row), row)).collect();
    let mut changes: Vec<Change> = rows
        .iter()
        .map(|ranked| {
            let old = if missing {
                before.remove(&key(&ranked.row))
            } else {
                before.get(&key(&ranked.row)).cloned()
            };
            change(ranked.rank, &ranked.row, old.as_ref(), Some(&ranked.row))
        })
        .collect();
    if missing {
        changes.extend(before.values().map(|old| change(0, old, Some(old), None)));
    }
    changes.sort_by(|a, b| {
        let growth = |c: &Change| c.p95_after_ms - c.p95_before_ms;
        a.status.cmp(&b.status).then_with(|| match a.status {
            ChangeStatus::Regressed => growth(b).total_cmp(&growth(a)),
            ChangeStatus::Missing => b.calls_before.cmp(&a.calls_before),
            _ => a.rank.cmp(&b.rank),
        })
    });
    Comparison {
        baseline_taken_at: rfc3339(baseline.meta().taken_at_ms),
        changes,
    }
}

/// One entry's change (labelled as `row`); `old` absent: new, `new` absent: missing.
fn change(rank: usize, row: &Row, old: Option<&Row>, new: Option<&Row>) -> Change {
    let after = |f: fn(&Row) -> f64| new.map_or(0.0, f);
    let before = |f: fn(&Row) -> f64| old.map_or(0.0, f);
    let new_errors = new.map(|n| new_errors(old, n)).unwrap_or_default();
    let status = match (old, new) {
        (None, _) => ChangeStatus::New,
        (Some(_), None) => ChangeStatus::Missing,
        (Some(_), Some(_)) if !new_errors.is_empty() => ChangeStatus::Errors,
        (Some(old), Some(new)) => classify(old.p95_ms, new.p95_ms),
    };
    Change {
        rank,
        fingerprint: row.fingerprint.clone(),
        database: row.database.clone(),
        user: row.user.clone(),
        application: row.application.clone(),
        summary: row.summary.clone(),
        status,
        calls_before: old.map_or(0, |o| o.calls),
        calls_after: new.map_or(0, |n| n.calls),
        errors_before: old.map_or(0, |o| o.error_count),
        errors_after: new.map_or(0, |n| n.error_count),
        new_errors,
        p50_before_ms: before(|r| r.p50_ms),
        p50_after_ms: after(|r| r.p50_ms),
        p95_before_ms: before(|r| r.p95_ms),
        p95_after_ms: after(|r| r.p95_ms),
        p95_ratio: old
            .zip(new)
            .filter(|(o, _)| o.p95_ms > 0.0)
            .map(|(o, n)| (n.p95_ms / o.p95_ms * 1000.0).round() / 1000.0),
        p99_before_ms: before(|r| r.p99_ms),
        p99_after_ms: after(|r| r.p99_ms),
        total_before_ms: before(|r| r.total_ms),
        total_after_ms: after(|r| r.total_ms),
    }
}

/// Failures of `new` beyond the rate `old` had them at, by SQLSTATE.
fn new_errors(old: Option<&Row>, new: &Row) -> BTreeMap<String, u64> {
    let scale = match old {
        Some(old) if old.calls > 0 => new.calls as f64 / old.calls as f64,
        _ => 0.0,
    };
    new.errors
        .iter()
        .filter_map(|(code, &count)| {
            let expected = old
                .and_then(|o| o.errors.get(code))
                .map_or(0.0, |&n| (n as f64 * scale).ceil());
            let extra = count.saturating_sub(expected as u64);
            (extra > 0).then(|| (code.clone(), extra))
        })
        .collect()
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
