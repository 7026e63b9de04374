//! The recorder over real fingerprint analyses and session events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::shape::Shapes;
use pgscope_exporters::view::{self, Filter, Query, Span};
use pgscope_exporters::{StatsSource, WindowConfig};

use super::persist::StateDir;
use super::{Recorder, RecorderSettings, WallClock};
use crate::observer::{
    ConnectionInfo, Event, Observer, Outcome, Protocol, QueryFinished, Statement,
};

const T0: u64 = 1_714_564_830_000;

struct Fixture {
    recorder: Recorder,
    start: Instant,
}

fn fixture(settings: RecorderSettings) -> Fixture {
    let start = Instant::now();
    let shapes = Arc::new(Shapes::new(100, settings.max_query_text));
    let recorder = Recorder::with_clock(settings, shapes, Arc::new(WallClock::anchored(start, T0)));
    Fixture { recorder, start }
}

fn connection(user: &str) -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        database: "shop".into(),
        user: user.into(),
        application_name: "test".into(),
        capture: None,
    })
}

impl Fixture {
    /// A query `sql` by `user` that finished `at_ms` after start, taking `latency_ms`.
    fn finish(&self, user: &str, sql: &str, at_ms: u64, latency_ms: u64, outcome: Outcome) {
        let finished = self.start + Duration::from_millis(at_ms);
        let event = Event::QueryFinished(QueryFinished {
            connection: connection(user),
            statement: Statement::new(sql),
            protocol: Protocol::Simple,
            started: finished - Duration::from_millis(latency_ms),
            finished,
            rows: matches!(outcome, Outcome::Ok).then_some(1),
            command: "SELECT".into(),
            outcome,
            batched: false,
            batch: None,
        });
        self.recorder.observe(&event);
    }

    /// A statement of a multi-statement simple query, arriving `gap_ms` after the previous one.
    fn finish_batched(&self, sql: &str, at_ms: u64, gap_ms: u64) {
        let finished = self.start + Duration::from_millis(at_ms);
        self.recorder.observe(&Event::QueryFinished(QueryFinished {
            connection: connection("alice"),
            statement: Statement::new(sql),
            protocol: Protocol::Simple,
            started: finished - Duration::from_millis(gap_ms),
            finished,
            rows: Some(2),
            command: "SELECT".into(),
            outcome: Outcome::Ok,
            batched: true,
            batch: None,
        }));
    }

    fn rows(&self) -> Vec<view::Row> {
        view::rows(&self.recorder, &Query::default(), false).0
    }
}

#[test]
fn one_entry_per_fingerprint_and_labels() {
    let f = fixture(RecorderSettings::default());
    f.finish("alice", "SELECT * FROM t WHERE id = 1", 10, 2, Outcome::Ok);
    f.finish("alice", "select * from t where id = 2", 20, 4, Outcome::Ok);
    f.finish("bob", "SELECT * FROM t WHERE id = 3", 30, 6, Outcome::Ok);
    let rows = f.rows();
    assert_eq!(rows.len(), 2);
    let alice = rows.iter().find(|r| r.user == "alice").unwrap();
    assert_eq!(alice.calls, 2);
    assert_eq!(alice.rows, 2);
    assert_eq!(alice.total_ms, 6.0);
    assert_eq!(alice.query, "select * from t where id = $1");
    assert_eq!(alice.tables, vec!["t".to_owned()]);
    assert_eq!(alice.first_seen, "2024-05-01T12:00:30.010Z");
}

#[test]
fn batched_statements_are_calls_with_rows_but_no_latency() {
    let f = fixture(RecorderSettings::default());
    f.finish("alice", "SELECT * FROM t WHERE id = 1", 10, 4, Outcome::Ok);
    f.finish_batched("SELECT * FROM t WHERE id = 2", 20, 900);
    let rows = f.rows();
    let [row] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    assert_eq!((row.calls, row.batched_calls, row.rows), (2, 1, 3));
    assert_eq!((row.total_ms, row.mean_ms, row.max_ms), (4.0, 4.0, 4.0));
}

#[test]
fn errors_are_calls_and_skips_are_not() {
    let f = fixture(RecorderSettings::default());
    f.finish("a", "INSERT INTO t VALUES (1)", 1, 1, Outcome::Ok);
    let failure = Outcome::Error {
        sqlstate: *b"23505",
    };
    f.finish("a", "INSERT INTO t VALUES (1)", 2, 1, failure);
    f.finish("a", "INSERT INTO t VALUES (1)", 3, 0, Outcome::Skipped);
    let row = &f.rows()[0];
    assert_eq!((row.calls, row.skipped, row.error_count), (2, 1, 1));
    assert_eq!(row.errors.get("23505"), Some(&1));
}

#[test]
fn entries_stay_within_the_bound_and_evictions_are_counted() {
    let f = fixture(RecorderSettings {
        max_entries: 64,
        ..RecorderSettings::default()
    });
    f.finish("a", "SELECT pg_sleep(1)", 1, 500, Outcome::Ok);
    for i in 0..2000 {
        f.finish("a", &format!("SELECT c{i} FROM t"), 2, 1, Outcome::Ok);
    }
    assert_eq!(f.recorder.len(), 64);
    assert_eq!(f.recorder.evictions(), 2001 - 64);
    let rows = f.rows();
    assert_eq!(
        rows[0].query, "select pg_sleep($1)",
        "the most expensive entry survives the flood"
    );
    assert_eq!(f.recorder.meta().evictions, 2001 - 64);
}

#[test]
fn every_bound_is_fully_usable_across_shards() {
    for max in [1, 5, 100, 5000, 100_000] {
        let f = fixture(RecorderSettings {
            max_entries: max,
            ..RecorderSettings::default()
        });
        assert!(f.recorder.shard_count().is_power_of_two());
        assert!(f.recorder.shard_count() <= 64);
        assert!(max < 16 || max / f.recorder.shard_count() >= 16);
        for i in 0..max.min(5000) + 10 {
            f.finish("a", &format!("SELECT c{i} FROM t"), 1, 1, Outcome::Ok);
        }
        assert_eq!(
            f.recorder.len(),
            max.min(5000 + 10),
            "the whole bound is usable"
        );
    }
}

#[test]
fn reset_forgets_everything() {
    let f = fixture(RecorderSettings::default());
    f.finish("a", "SELECT 1", 1, 1, Outcome::Ok);
    let before = f.recorder.meta().since_ms;
    std::thread::sleep(Duration::from_millis(5));
    f.recorder.reset();
    assert!(f.recorder.is_empty());
    assert!(f.recorder.meta().since_ms > before);
}

#[test]
fn long_texts_are_cut_at_a_character_boundary() {
    let f = fixture(RecorderSettings {
        max_query_text: 20,
        ..RecorderSettings::default()
    });
    f.finish("a", "SELECT ééééééééééééééé FROM t", 1, 1, Outcome::Ok);
    let query = &f.rows()[0].query;
    assert!(query.len() <= 20, "{query}");
    assert!(query.ends_with('…'));
}

#[test]
fn concurrent_recording_loses_nothing() {
    let f = Arc::new(fixture(RecorderSettings::default()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for i in 0..2_500u64 {
                    f.finish("a", "SELECT * FROM hot WHERE id = 1", i, 1, Outcome::Ok);
                    f.finish(&format!("u{t}"), "SELECT 1", i, 1, Outcome::Ok);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let rows = f.rows();
    let hot = rows.iter().find(|r| r.query.contains("hot")).unwrap();
    assert_eq!(hot.calls, 10_000);
    assert_eq!(rows.len(), 5);
}

#[test]
fn recent_windows_hold_recent_calls() {
    let f = fixture(RecorderSettings {
        windows: WindowConfig {
            width_ms: 1000,
            count: 10,
        },
        ..RecorderSettings::default()
    });
    f.finish("a", "SELECT 1", 100, 1, Outcome::Ok);
    f.finish("a", "SELECT 1", 5_100, 1, Outcome::Ok);
    std::thread::sleep(Duration::from_millis(10));
    // The fixture's clock is anchored at start: "now" is a few ms after T0, so only the
    // window of the first call is recent.
    let query = Query {
        span: Span::Recent { windows: 1 },
        ..Query::default()
    };
    let (rows, _) = view::rows(&f.recorder, &query, false);
    assert_eq!(rows[0].calls, 1);
    let series = view::series(&f.recorder, &Filter::default(), view::Grouping::PerKey);
    assert_eq!(series[0].points.len(), 1, "a future window is not yet kept");
}

#[test]
fn snapshots_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(&dir.path().join("state")).unwrap();
    let f = fixture(RecorderSettings::default());
    for i in 0..25 {
        f.finish("a", "SELECT * FROM t WHERE id = 1", i, 3, Outcome::Ok);
    }
    state.save(&f.recorder).unwrap();
    let restarted = fixture(RecorderSettings::default());
    let snapshot = state.load().unwrap().expect("a snapshot");
    assert_eq!(restarted.recorder.restore(snapshot), 1);
    assert_eq!(restarted.rows(), f.rows());
    restarted.finish("a", "SELECT * FROM t WHERE id = 9", 30, 3, Outcome::Ok);
    assert_eq!(restarted.rows()[0].calls, 26);
}

#[test]
fn restoring_with_another_window_width_drops_windows() {
    let f = fixture(RecorderSettings::default());
    f.finish("a", "SELECT 1", 1, 1, Outcome::Ok);
    let mut bytes = Vec::new();
    pgscope_exporters::write_snapshot(&f.recorder, &mut bytes).unwrap();
    let snapshot = pgscope_exporters::read_snapshot(bytes.as_slice()).unwrap();
    let other = fixture(RecorderSettings {
        windows: WindowConfig {
            width_ms: 10_000,
            count: 6,
        },
        ..RecorderSettings::default()
    });
    other.recorder.restore(snapshot);
    let series = view::series(&other.recorder, &Filter::default(), view::Grouping::PerKey);
    assert!(series[0].points.is_empty());
    assert_eq!(other.rows()[0].calls, 1);
}

#[test]
fn a_missing_snapshot_is_not_an_error_and_a_corrupt_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    assert!(state.load().unwrap().is_none());
    std::fs::write(state.snapshot_path(), b"{\"version\": 1, \"meta\": 3}").unwrap();
    let error = state.load().unwrap_err().to_string();
    assert!(error.contains("pgscope-snapshot.json"), "{error}");
}

#[test]
fn saving_replaces_the_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let f = fixture(RecorderSettings::default());
    f.finish("a", "SELECT 1", 1, 1, Outcome::Ok);
    state.save(&f.recorder).unwrap();
    state.save(&f.recorder).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![super::persist::SNAPSHOT_FILE.to_owned()]);
}
