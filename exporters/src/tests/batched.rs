//! Batched calls (statements of a multi-statement simple `Query`): counted with their rows and
//! errors, kept out of every latency figure.

use std::sync::Arc;

use super::{config, entry, failed, ok, snapshot, NOW};
use crate::prometheus::{encode_text, MetricsOptions, StatsCollector};
use crate::report::{self, text};
use crate::view::{self, Filter, Query, Span};
use crate::{read_snapshot, QueryStats, Sample};

fn batched(sample: Sample) -> Sample {
    Sample {
        batched: true,
        ..sample
    }
}

/// One timed call of 1 ms and two batched calls whose arrival gaps were 40 and 70 ms.
fn mixed() -> Vec<Sample> {
    vec![
        ok(NOW - 2_000, 1_000, 1),
        batched(ok(NOW - 1_000, 40_000, 3)),
        batched(failed(NOW - 500, 70_000, b"57014")),
    ]
}

#[test]
fn batched_calls_count_rows_and_errors_but_no_latency() {
    let mut stats = QueryStats::default();
    for sample in mixed() {
        stats.record(&sample, &config());
    }
    assert_eq!((stats.calls, stats.batched_calls), (3, 2));
    assert_eq!(stats.timed_calls(), 1);
    assert_eq!((stats.rows, stats.error_count()), (4, 1));
    assert_eq!(
        (stats.min_us, stats.max_us, stats.total_us),
        (1_000, 1_000, 1_000)
    );
    assert_eq!(stats.histogram.count(), 1);
    assert_eq!(stats.buckets.0.iter().sum::<u64>(), 1);
    let window = stats.windows.iter().next().unwrap();
    assert_eq!((window.calls, window.batched_calls), (3, 2));
    assert_eq!((window.total_us, window.histogram.count()), (1_000, 1));
}

#[test]
fn only_batched_calls_leave_the_latency_figures_empty() {
    let mut stats = QueryStats::default();
    stats.record(&batched(ok(NOW, 50_000, 1)), &config());
    assert_eq!(
        (stats.calls, stats.batched_calls, stats.total_us),
        (1, 1, 0)
    );
    assert!(stats.histogram.is_empty());
    let source = snapshot(vec![entry(
        1,
        "shop",
        "web",
        &[batched(ok(NOW, 50_000, 1))],
    )]);
    let (rows, _) = view::rows(&source, &Query::default(), false);
    assert_eq!((rows[0].calls, rows[0].batched_calls), (1, 1));
    assert_eq!((rows[0].mean_ms, rows[0].max_ms), (0.0, 0.0));
}

#[test]
fn api_rows_and_window_points_show_batched_calls_and_time_the_others() {
    let source = snapshot(vec![entry(1, "shop", "web", &mixed())]);
    let (rows, _) = view::rows(&source, &Query::default(), false);
    let row = &rows[0];
    assert_eq!((row.calls, row.batched_calls, row.rows), (3, 2, 4));
    assert_eq!((row.total_ms, row.mean_ms, row.max_ms), (1.0, 1.0, 1.0));
    let json = serde_json::to_value(row).unwrap();
    assert_eq!(json["batched_calls"], 2);
    let detail = view::detail(&source, 1, &Filter::default(), Span::Cumulative).unwrap();
    let batched: u64 = detail.windows.iter().map(|w| w.batched_calls).sum();
    assert_eq!(batched, 2);
    assert!(detail.windows.iter().all(|w| w.mean_ms <= 1.0));
}

#[test]
fn reports_say_how_many_calls_were_batched() {
    let source = snapshot(vec![entry(1, "shop", "web", &mixed())]);
    let report = report::build(&source, &Query::default());
    let rendered = text::render(&report);
    assert!(
        rendered.contains("calls 3 (2 batched, latency not observed)"),
        "{rendered}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rows"][0]["batched_calls"], 2, "{json}");
}

#[test]
fn prometheus_histograms_count_only_timed_calls() {
    let source = snapshot(vec![entry(1, "shop", "web", &mixed())]);
    let collector = StatsCollector::new(Arc::new(source), MetricsOptions::default());
    let text = encode_text(&collector.registry().unwrap()).unwrap();
    let count = text
        .lines()
        .find(|l| l.starts_with("db_client_operation_duration_seconds_count"))
        .unwrap();
    assert!(count.ends_with(" 1"), "{count}");
    let calls = text
        .lines()
        .find(|l| l.starts_with("pgscope_query_calls_total{"))
        .unwrap();
    assert!(calls.ends_with(" 3"), "{calls}");
}

#[test]
fn snapshots_without_batched_calls_still_load() {
    let mut value =
        serde_json::to_value(snapshot(vec![entry(1, "shop", "web", &mixed())])).unwrap();
    let stats = &mut value["entries"][0]["stats"];
    stats.as_object_mut().unwrap().remove("batched_calls");
    for window in stats["windows"].as_array_mut().unwrap() {
        window.as_object_mut().unwrap().remove("batched_calls");
    }
    let loaded = read_snapshot(value.to_string().as_bytes()).unwrap();
    assert_eq!(loaded.entries[0].stats.batched_calls, 0);
    assert_eq!(loaded.entries[0].stats.calls, 3);
}

#[test]
fn batched_calls_carry_the_mean_time_of_their_whole_query() {
    let timed = |sample: Sample, batch_us| Sample {
        batch_us: Some(batch_us),
        ..batched(sample)
    };
    let samples = [
        ok(NOW - 3_000, 1_000, 1),
        timed(ok(NOW - 2_000, 40_000, 1), 200_000),
        timed(ok(NOW - 1_000, 10_000, 1), 300_000),
        // Its connection closed before the server's ReadyForQuery: no batch time.
        batched(ok(NOW - 500, 5_000, 1)),
    ];
    let source = snapshot(vec![entry(1, "shop", "web", &samples)]);
    let (rows, _) = view::rows(&source, &Query::default(), false);
    assert_eq!(rows[0].batched_calls, 3);
    assert_eq!(rows[0].batch_mean_ms, Some(250.0));
    assert_eq!(rows[0].mean_ms, 1.0);
    let rendered = text::render(&report::build(&source, &Query::default()));
    assert!(
        rendered.contains(
            "calls 4 (3 batched, latency not observed; their Query took 250.000 ms on average)"
        ),
        "{rendered}"
    );
    // Without batched calls the field is absent.
    let plain = snapshot(vec![entry(2, "shop", "web", &[ok(NOW, 1_000, 1)])]);
    let (rows, _) = view::rows(&plain, &Query::default(), false);
    let json = serde_json::to_value(&rows[0]).unwrap();
    assert!(json.get("batch_mean_ms").is_none(), "{json}");
}
