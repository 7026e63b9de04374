//! Snapshots, Prometheus text and reports.

use std::sync::Arc;

use super::{entry, failed, ok, snapshot, workload, NOW};
use crate::prometheus::{encode_text, MetricsOptions, StatsCollector};
use crate::report::{self, compare, html, text, ChangeStatus};
use crate::view::Query;
use crate::{read_snapshot, write_snapshot, HealthKind, HealthMetric, SnapshotError, StatsSource};

#[test]
fn snapshots_round_trip_through_the_streaming_writer() {
    let original = workload();
    let mut bytes = Vec::new();
    write_snapshot(&original, &mut bytes).unwrap();
    let loaded = read_snapshot(bytes.as_slice()).unwrap();
    assert_eq!(loaded, original);
}

#[test]
fn snapshots_of_another_version_are_refused() {
    let mut value = serde_json::to_value(workload()).unwrap();
    value["version"] = 99.into();
    let error = read_snapshot(value.to_string().as_bytes()).unwrap_err();
    assert!(matches!(error, SnapshotError::Version { found: 99 }));
    assert!(read_snapshot(&b"{\"version\":1}"[..]).is_err());
}

struct WithHealth(crate::Snapshot);

impl StatsSource for WithHealth {
    fn meta(&self) -> crate::SourceMeta {
        self.0.meta()
    }
    fn for_each_entry(&self, visit: &mut dyn FnMut(crate::EntryRef<'_>)) {
        self.0.for_each_entry(visit);
    }
    fn health(&self) -> Vec<HealthMetric> {
        vec![
            HealthMetric {
                name: "pgscope_bytes_total",
                help: "Bytes forwarded.",
                kind: HealthKind::Counter,
                labels: vec![("direction", "client_to_server".to_owned())],
                value: 10.0,
            },
            HealthMetric {
                name: "pgscope_bytes_total",
                help: "Bytes forwarded.",
                kind: HealthKind::Counter,
                labels: vec![("direction", "server_to_client".to_owned())],
                value: 20.0,
            },
        ]
    }
}

fn metrics(source: crate::Snapshot, top_k: usize) -> String {
    let collector = StatsCollector::new(Arc::new(WithHealth(source)), MetricsOptions { top_k });
    encode_text(&collector.registry().unwrap()).unwrap()
}

#[test]
fn prometheus_text_has_histograms_counters_and_health() {
    let text = metrics(workload(), 10);
    let series = "db_system_name=\"postgresql\",db_namespace=\"shop\",db_operation_name=\"SELECT\",db_query_summary=\"SELECT t2\",fingerprint=\"0000000000000002\"";
    assert!(
        text.contains(&format!(
            "db_client_operation_duration_seconds_count{{{series}}} 10"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "db_client_operation_duration_seconds_bucket{{{series},le=\"0.05\"}} 1"
    )));
    assert!(text.contains(&format!(
        "db_client_operation_duration_seconds_bucket{{{series},le=\"0.1\"}} 10"
    )));
    assert!(text.contains(&format!("pgscope_query_rows_total{{{series}}} 30")));
    assert!(text.contains("sqlstate_class=\"23\"} 2"), "{text}");
    assert!(text.contains("sqlstate_class=\"42\"} 1"));
    assert!(text.contains("pgscope_bytes_total{direction=\"server_to_client\"} 20"));
    assert!(text.contains("# TYPE db_client_operation_duration_seconds histogram"));
    assert!(text.contains("pgscope_recorder_entries 3"));
}

#[test]
fn fingerprints_beyond_top_k_are_summed_as_other() {
    let samples = [ok(NOW, 1_000, 1)];
    let source = snapshot(vec![
        entry(1, "db", "u", &[ok(NOW, 9_000, 1)]),
        entry(2, "db", "u", &samples),
        entry(3, "db", "v", &samples),
    ]);
    let mut one = source.entries[1].clone();
    one.info.summary = "SELECT t3".into();
    let source = snapshot(vec![
        source.entries[0].clone(),
        one,
        source.entries[2].clone(),
    ]);
    let text = metrics(source, 1);
    assert!(text.contains("fingerprint=\"0000000000000001\"} 1"));
    assert!(
        text.contains("db_query_summary=\"SELECT t3\",fingerprint=\"other\"} 2"),
        "{text}"
    );
    assert!(!text.contains("fingerprint=\"0000000000000002\""));
}

#[test]
fn reports_rank_and_share_total_time() {
    let report = report::build(&workload(), &Query::default());
    assert_eq!(report.rows[0].rank, 1);
    assert_eq!(report.rows[0].row.fingerprint, "0000000000000002");
    let shares: f64 = report.rows.iter().map(|r| r.share).sum();
    assert!((shares - 1.0).abs() < 1e-6);
    let text = text::render(&report);
    assert!(text.contains("# Query 1: 0000000000000002"));
    assert!(text.contains("SELECT * FROM t2 WHERE id = $1"));
    assert!(text.contains("23505×2"));
    let json: report::Report =
        serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(json, report);
}

#[test]
fn html_reports_are_self_contained_with_a_chart_per_query() {
    let report = report::build(&workload(), &Query::default());
    let page = html::render(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(
        !page.contains("http://")
            || page.matches("http://").count()
                == page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(!page.contains("<script"));
    assert!(page.contains("SELECT * FROM t2 WHERE id = $1"));
}

#[test]
fn comparison_lists_new_and_regressed_first() {
    let baseline = snapshot(vec![
        entry(1, "db", "u", &[ok(NOW, 1_000, 1)]),
        entry(2, "db", "u", &[ok(NOW, 1_000, 1)]),
    ]);
    let current = snapshot(vec![
        entry(1, "db", "u", &[ok(NOW, 1_000, 1), ok(NOW, 1_000, 1)]),
        entry(2, "db", "u", &[ok(NOW, 5_000, 1)]),
        entry(3, "db", "u", &[failed(NOW, 100, b"57014")]),
    ]);
    let mut report = report::build(&current, &Query::default());
    let comparison = compare(&report.rows, &baseline, &Query::default());
    let statuses: Vec<ChangeStatus> = comparison.changes.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            ChangeStatus::New,
            ChangeStatus::Regressed,
            ChangeStatus::Unchanged
        ]
    );
    assert_eq!(comparison.changes[1].p95_ratio, Some(5.0));
    assert_eq!(comparison.changes[2].calls_before, 1);
    assert_eq!(comparison.changes[2].calls_after, 2);
    report.baseline = Some(comparison);
    assert!(text::render(&report).contains("REGRESSED"));
    assert!(html::render(&report).contains("class=\"regressed\""));
}

#[test]
fn failed_operations_are_duration_series_labelled_with_their_sqlstate_class() {
    let text = metrics(workload(), 10);
    let series = "db_system_name=\"postgresql\",db_namespace=\"crm\",db_operation_name=\"SELECT\",db_query_summary=\"SELECT t3\",fingerprint=\"0000000000000003\"";
    let count = |labels: &str| {
        let prefix = format!("db_client_operation_duration_seconds_count{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert_eq!(count(series), "5");
    assert_eq!(
        count(&format!(
            "{series},error_type=\"23\",db_response_status_code=\"23\""
        )),
        "2"
    );
    assert_eq!(
        count(&format!(
            "{series},error_type=\"42\",db_response_status_code=\"42\""
        )),
        "1"
    );
    // Bounded: the class, never the full code.
    assert!(!text.contains("error_type=\"23505\""));
}
