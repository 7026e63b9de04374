//! Recording into [`QueryStats`] and its windows.

use super::{config, failed, ok, NOW};
use crate::{QueryStats, Sample, SampleOutcome, WindowConfig};

#[test]
fn record_counts_calls_errors_rows_and_extremes() {
    let mut stats = QueryStats::default();
    stats.record(&ok(NOW, 300, 5), &config());
    stats.record(&ok(NOW + 1, 100, 2), &config());
    stats.record(&failed(NOW + 2, 900, b"23505"), &config());
    assert_eq!(stats.calls, 3);
    assert_eq!(stats.error_count(), 1);
    assert_eq!(stats.rows, 7);
    assert_eq!(
        (stats.min_us, stats.max_us, stats.total_us),
        (100, 900, 1300)
    );
    assert_eq!((stats.first_seen_ms, stats.last_seen_ms), (NOW, NOW + 2));
    assert_eq!(stats.histogram.count(), 3);
}

#[test]
fn skipped_queries_are_not_calls() {
    let mut stats = QueryStats::default();
    let skipped = Sample {
        at_ms: NOW,
        latency_us: 0,
        rows: None,
        outcome: SampleOutcome::Skipped,
        batched: false,
        batch_us: None,
    };
    stats.record(&skipped, &config());
    assert_eq!((stats.calls, stats.skipped), (0, 1));
    assert!(stats.histogram.is_empty());
    let window = stats.windows.iter().next().expect("a window");
    assert_eq!((window.calls, window.skipped), (0, 1));
}

#[test]
fn windows_roll_and_recycle_their_slots() {
    let config = WindowConfig {
        width_ms: 1000,
        count: 3,
    };
    let mut stats = QueryStats::default();
    for second in 0..5u64 {
        stats.record(&ok(NOW + second * 1000, 10 * (second + 1), 1), &config);
    }
    let mut indexes: Vec<u64> = stats.windows.iter().map(|w| w.index).collect();
    indexes.sort_unstable();
    let now = config.index_at(NOW + 4000);
    assert_eq!(indexes, vec![now - 2, now - 1, now]);
    assert_eq!(stats.calls, 5, "the cumulative figures keep everything");
    let recent: Vec<u64> = stats
        .windows
        .recent(&config, NOW + 4000, 2)
        .map(|w| w.histogram.max_us())
        .collect();
    assert_eq!(recent.len(), 2);
    assert!(recent.contains(&50) && recent.contains(&40));
}

#[test]
fn a_sample_older_than_its_slot_is_left_out_of_windows() {
    let config = WindowConfig {
        width_ms: 1000,
        count: 2,
    };
    let mut stats = QueryStats::default();
    stats.record(&ok(NOW + 2000, 10, 1), &config);
    stats.record(&ok(NOW, 10, 1), &config);
    assert_eq!(stats.windows.iter().map(|w| w.calls).sum::<u64>(), 1);
    assert_eq!(stats.calls, 2);
}

#[test]
fn prune_frees_windows_that_aged_out() {
    let config = WindowConfig {
        width_ms: 1000,
        count: 3,
    };
    let mut stats = QueryStats::default();
    stats.record(&ok(NOW, 10, 1), &config);
    stats.windows.prune(&config, NOW + 2000);
    assert_eq!(stats.windows.iter().count(), 1);
    stats.windows.prune(&config, NOW + 3000);
    assert_eq!(stats.windows.iter().count(), 0);
}

#[test]
fn loaded_windows_are_laid_out_for_a_new_config() {
    let mut stats = QueryStats::default();
    for minute in 0..10u64 {
        stats.record(&ok(NOW + minute * 60_000, 10, 1), &config());
    }
    let text = serde_json::to_string(&stats).unwrap();
    let mut loaded: QueryStats = serde_json::from_str(&text).unwrap();
    assert_eq!(loaded, stats);
    let smaller = WindowConfig {
        width_ms: 60_000,
        count: 4,
    };
    loaded.record(&ok(NOW + 10 * 60_000, 10, 1), &smaller);
    let mut indexes: Vec<u64> = loaded.windows.iter().map(|w| w.index).collect();
    indexes.sort_unstable();
    let now = smaller.index_at(NOW + 10 * 60_000);
    assert_eq!(indexes, vec![now - 3, now - 2, now - 1, now]);
}

#[test]
fn error_codes_beyond_the_bound_are_counted_as_other() {
    let mut stats = QueryStats::default();
    for i in 0..40u8 {
        let code = [b'2', b'2', b'0', b'0' + i / 10, b'0' + i % 10];
        stats.record(&failed(NOW, 1, &code), &config());
    }
    let map = stats.errors.to_map();
    assert_eq!(map.len(), crate::model::errors::MAX_SQLSTATES);
    assert_eq!(stats.error_count(), 40);
    assert_eq!(map.get("other"), Some(&(40 - 15)));
}
