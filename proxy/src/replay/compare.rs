//! The replay compared with its capture, as a [`Report`]: the replayed statements are the
//! report's rows (every fingerprint, ranked by total time), and the capture's baseline — one
//! [`Sample`](pgscope_exporters::Sample) per captured statement, gathered into a [`Snapshot`]
//! — is its baseline, compared with [`compare_all`] so that captured fingerprints that were
//! not replayed at all are listed too. The text, JSON and HTML renderers are those of
//! `pgscope report --baseline`.

use std::collections::HashMap;

use pgscope_exporters::report::{self, compare_all, ReplaySummary, Report};
use pgscope_exporters::snapshot::{FingerprintText, SNAPSHOT_VERSION};
use pgscope_exporters::view::{Query, SortKey, Span};
use pgscope_exporters::{
    QueryStats, SampleOutcome, Snapshot, SnapshotEntry, SourceMeta, StatsSource, WindowConfig,
};

use super::model::Capture;
use super::Outcome;

/// The capture's baseline as a snapshot, taken at `taken_at_ms`.
pub fn baseline(capture: &Capture, taken_at_ms: u64) -> Snapshot {
    let windows = WindowConfig::default();
    // foldhash: one lookup per captured statement, and SipHash over the three labels made this
    // a tenth of a replay's instructions.
    let mut entries: HashMap<(u64, &str, &str, &str), SnapshotEntry, foldhash::fast::RandomState> =
        HashMap::default();
    for statement in &capture.baseline {
        let key = (
            statement.fingerprint,
            &*statement.database,
            &*statement.user,
            &*statement.application,
        );
        entries
            .entry(key)
            .or_insert_with(|| SnapshotEntry {
                fingerprint: FingerprintText(statement.fingerprint),
                database: statement.database.to_string(),
                user: statement.user.to_string(),
                application: statement.application.to_string(),
                info: statement.info.clone(),
                stats: QueryStats::default(),
            })
            .stats
            .record(&statement.sample, &windows);
    }
    let since_ms = capture
        .baseline
        .iter()
        .map(|s| s.sample.at_ms)
        .min()
        .unwrap_or(taken_at_ms);
    Snapshot {
        version: SNAPSHOT_VERSION,
        meta: SourceMeta {
            taken_at_ms,
            since_ms,
            windows,
            enabled: true,
            entries: entries.len() as u64,
            max_entries: entries.len() as u64,
            evictions: 0,
        },
        entries: entries.into_values().collect(),
    }
}

/// Every entry, ranked by total time, over everything recorded.
fn everything() -> Query {
    Query {
        sort: SortKey::TotalTime,
        limit: usize::MAX,
        span: Span::Cumulative,
        ..Query::default()
    }
}

/// The comparison report of a finished replay; `summary`'s statement counts are filled here.
pub fn report(outcome: &Outcome, capture: &Capture, mut summary: ReplaySummary) -> Report {
    let query = everything();
    let mut report = report::build(&*outcome.recorder, &query);
    let baseline = baseline(capture, outcome.recorder.meta().taken_at_ms);
    summary.statements_captured = capture
        .baseline
        .iter()
        .filter(|b| b.sample.outcome != SampleOutcome::Skipped)
        .count() as u64;
    summary.statements_replayed = report.rows.iter().map(|r| r.row.calls).sum();
    report.baseline = Some(compare_all(&report.rows, &baseline, &query));
    report.replay = Some(summary);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::model::Baseline;
    use pgscope_exporters::report::ChangeStatus;
    use pgscope_exporters::{QueryInfo, Sample, SampleOutcome};

    fn statement(fingerprint: u64, latency_us: u64, outcome: SampleOutcome) -> Baseline {
        Baseline {
            fingerprint,
            info: QueryInfo {
                query: format!("select {fingerprint}").into(),
                summary: "SELECT".into(),
                operation: "SELECT".into(),
                tables: vec![],
            },
            database: "db".into(),
            user: "u".into(),
            application: "app".into(),
            sample: Sample {
                at_ms: 1_000,
                latency_us,
                rows: Some(1),
                outcome,
                batched: false,
                batch_us: None,
            },
        }
    }

    #[test]
    fn the_baseline_gathers_captured_statements_per_fingerprint_and_labels() {
        let capture = Capture {
            baseline: vec![
                statement(1, 100, SampleOutcome::Ok),
                statement(1, 300, SampleOutcome::Error(*b"23505")),
                statement(2, 50, SampleOutcome::Ok),
            ],
            ..Capture::default()
        };
        let snapshot = baseline(&capture, 2_000);
        let (rows, totals) = pgscope_exporters::view::rows(&snapshot, &everything(), false);
        assert_eq!(totals.calls, 3);
        let one = rows
            .iter()
            .find(|r| r.fingerprint == "0000000000000001")
            .unwrap();
        assert_eq!((one.calls, one.error_count), (2, 1));
        assert_eq!(one.query, "select 1");
    }

    #[test]
    fn a_captured_fingerprint_that_was_not_replayed_is_listed_as_missing() {
        let capture = Capture {
            baseline: vec![statement(7, 100, SampleOutcome::Ok)],
            ..Capture::default()
        };
        let snapshot = baseline(&capture, 2_000);
        let comparison = compare_all(&[], &snapshot, &everything());
        assert_eq!(comparison.changes.len(), 1);
        assert_eq!(comparison.changes[0].status, ChangeStatus::Missing);
        assert_eq!(comparison.changes[0].calls_before, 1);
        assert_eq!(comparison.changes[0].calls_after, 0);
    }
}
