//! The JSON views over a source.

use super::{entry, ok, snapshot, workload, NOW};
use crate::view::{self, Filter, Grouping, Query, SortKey, Span, ViewError};
use crate::WindowConfig;

#[test]
fn rows_rank_by_total_time_by_default() {
    let (rows, totals) = view::rows(&workload(), &Query::default(), false);
    let order: Vec<&str> = rows.iter().map(|r| r.fingerprint.as_str()).collect();
    assert_eq!(
        order,
        ["0000000000000002", "0000000000000001", "0000000000000003"]
    );
    assert_eq!(totals.entries, 3);
    assert_eq!(totals.calls, 1000 + 10 + 8);
    assert_eq!(totals.errors, 3);
}

#[test]
fn each_sort_key_ranks_its_own_way() {
    let first = |sort| {
        view::rows(
            &workload(),
            &Query {
                sort,
                ..Query::default()
            },
            false,
        )
        .0[0]
            .fingerprint
            .clone()
    };
    assert_eq!(first(SortKey::Calls), "0000000000000001");
    assert_eq!(first(SortKey::Errors), "0000000000000003");
    assert_eq!(first(SortKey::P99), "0000000000000002");
    assert_eq!(first(SortKey::Mean), "0000000000000002");
}

#[test]
fn row_figures_are_exact_for_calls_errors_and_rows() {
    let (rows, _) = view::rows(&workload(), &Query::default(), false);
    let failing = rows.iter().find(|r| r.fingerprint.ends_with('3')).unwrap();
    assert_eq!(failing.calls, 8);
    assert_eq!(failing.errors.get("23505"), Some(&2));
    assert_eq!(failing.errors.get("42P01"), Some(&1));
    let slow = rows.iter().find(|r| r.fingerprint.ends_with('2')).unwrap();
    assert_eq!(slow.rows, 30);
    assert!(slow.p50_ms >= 50.0 && slow.p50_ms < 50.1, "{}", slow.p50_ms);
    assert_eq!(slow.max_ms, 50.009);
    assert_eq!(slow.first_seen, "2024-05-01T11:30:29.991Z");
}

#[test]
fn filters_and_limit_select_rows() {
    let query = Query {
        filter: Filter {
            user: Some("web".to_owned()),
            ..Filter::default()
        },
        limit: 1,
        ..Query::default()
    };
    let (rows, totals) = view::rows(&workload(), &query, false);
    assert_eq!(rows.len(), 1);
    assert_eq!(totals.entries, 2);
    assert_eq!(rows[0].user, "web");
}

#[test]
fn a_recent_span_sees_only_its_windows() {
    let span = Span::last(5 * 60_000, &super::config()).unwrap();
    assert_eq!(span, Span::Recent { windows: 5 });
    let query = Query {
        span,
        ..Query::default()
    };
    let (rows, _) = view::rows(&workload(), &query, false);
    assert_eq!(rows.len(), 2, "the slow query ran 30 minutes ago");
    assert!(rows.iter().all(|r| !r.fingerprint.ends_with('2')));
}

#[test]
fn bad_parameters_are_errors() {
    assert_eq!(
        SortKey::parse("slowest"),
        Err(ViewError::UnknownSort("slowest".to_owned()))
    );
    assert_eq!(Span::last(0, &super::config()), Err(ViewError::WindowZero));
    assert!(matches!(
        Span::last(2 * 3_600_000, &super::config()),
        Err(ViewError::WindowTooLong { .. })
    ));
}

#[test]
fn detail_merges_the_keys_of_a_fingerprint() {
    let samples = [ok(NOW - 100, 1_000, 1), ok(NOW - 120_000, 3_000, 1)];
    let source = snapshot(vec![
        entry(7, "shop", "web", &samples),
        entry(7, "shop", "batch", &samples[..1]),
    ]);
    let detail = view::detail(&source, 7, &Filter::default(), Span::Cumulative).unwrap();
    assert_eq!(detail.row.calls, 3);
    assert_eq!(detail.row.user, "*");
    assert_eq!(detail.row.database, "shop");
    assert_eq!(detail.keys.len(), 2);
    assert_eq!(detail.windows.len(), 2);
    assert_eq!(detail.windows[1].calls, 2);
    assert!(!detail.windows[1].complete, "the current window is partial");
    assert!(!detail.row.distribution.is_empty());
    assert!(view::detail(&source, 8, &Filter::default(), Span::Cumulative).is_none());
}

#[test]
fn series_group_by_key_or_database() {
    let samples = [ok(NOW - 100, 1_000, 1)];
    let source = snapshot(vec![
        entry(7, "shop", "web", &samples),
        entry(7, "shop", "batch", &samples),
    ]);
    let per_key = view::series(&source, &Filter::default(), Grouping::PerKey);
    assert_eq!(per_key.len(), 2);
    let per_db = view::series(&source, &Filter::default(), Grouping::PerDatabase);
    assert_eq!(per_db.len(), 1);
    assert_eq!(per_db[0].points.len(), 1);
    assert_eq!(per_db[0].points[0].calls, 2);
    assert_eq!(per_db[0].tables, vec!["t7".to_owned()]);
}

#[test]
fn windows_outside_retention_are_not_in_series() {
    let config = WindowConfig {
        width_ms: 60_000,
        count: 60,
    };
    let old = [ok(NOW - 2 * 3_600_000, 10, 1), ok(NOW - 10, 10, 1)];
    let source = snapshot(vec![entry(1, "db", "u", &old)]);
    let series = view::series(&source, &Filter::default(), Grouping::PerKey);
    assert_eq!(series[0].points.len(), 1);
    assert_eq!(
        series[0].points[0].start_ms,
        config.start_ms(config.index_at(NOW - 10))
    );
}
