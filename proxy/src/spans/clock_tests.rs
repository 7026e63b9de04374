//! One clock: a query's recorder window and its span are placed by the same Instant→wall-clock
//! mapping, so they agree — also after the mapping is stepped.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::shape::Shapes;
use pgscope_exporters::view::{self, Filter, Span};
use pgscope_exporters::StatsSource;
use pgscope_otel::{SpanCounters, TraceOptions, TraceSettings, Tracing};

use super::tests::Collect;
use super::{ServerAddress, SpanObserver};
use crate::clock::WallClock;
use crate::observer::{
    ConnectionInfo, Event, Observer, Outcome, Protocol, QueryFinished, Statement,
};
use crate::recorder::{Recorder, RecorderSettings};

const T0_MS: u64 = 1_714_564_830_000;
const HOUR_MS: u64 = 3_600_000;

fn finished(sql: &str, at: Instant) -> Event {
    Event::QueryFinished(QueryFinished {
        connection: Arc::new(ConnectionInfo::default()),
        statement: Statement::new(sql),
        protocol: Protocol::Simple,
        started: at - Duration::from_millis(5),
        finished: at,
        rows: Some(1),
        command: "SELECT".into(),
        outcome: Outcome::Ok,
        batched: false,
        batch: None,
    })
}

/// The start of the window of each window point of `sql`'s fingerprint, ms.
fn window_starts(recorder: &Recorder, sql: &str) -> Vec<u64> {
    let fingerprint = pgscope_fingerprint::analyze(sql).fingerprint.0;
    let detail = view::detail(recorder, fingerprint, &Filter::default(), Span::Cumulative)
        .unwrap_or_else(|| panic!("no entry for {sql}"));
    detail.windows.iter().map(|w| w.start_ms).collect()
}

#[test]
fn a_querys_window_and_its_span_agree_after_the_clock_is_stepped() {
    let t0 = Instant::now();
    let clock = Arc::new(WallClock::anchored(t0, T0_MS));
    // Three hours of one-minute windows: the window before the step is still kept after it.
    let mut settings = RecorderSettings::default();
    settings.windows.count = 180;
    let shapes = Arc::new(Shapes::new(10, 4096));
    let recorder = Recorder::with_clock(settings, Arc::clone(&shapes), Arc::clone(&clock));
    let settings = TraceSettings::resolve(&TraceOptions::default(), Vec::new()).unwrap();
    let spans = Collect::default();
    let tracing =
        Tracing::with_exporter(&settings, Arc::new(SpanCounters::default()), spans.clone());
    let observer = SpanObserver::new(
        tracing.emitter().clone(),
        ServerAddress::of(&pgscope_config::Upstream::tcp("db", 5432)),
        shapes,
        Arc::clone(&clock),
    );
    let observe = |event: &Event| {
        recorder.observe(event);
        observer.observe(event);
    };

    observe(&finished(
        "SELECT 1 AS before_step",
        t0 + Duration::from_millis(10),
    ));
    // The wall clock is stepped an hour forward; the mapping is re-anchored.
    let step_at = t0 + Duration::from_millis(20);
    clock.anchor(step_at, (T0_MS + 20 + HOUR_MS) * 1_000_000);
    observe(&finished(
        "SELECT 1 AS after_step",
        t0 + Duration::from_millis(30),
    ));
    tracing.shutdown(Duration::from_secs(5)).unwrap();

    let spans = spans.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let width = recorder.meta().windows.width_ms;
    for (span, sql, expected_end_ms) in [
        (&spans[0], "SELECT 1 AS before_step", T0_MS + 10),
        (&spans[1], "SELECT 1 AS after_step", T0_MS + 30 + HOUR_MS),
    ] {
        let end_ms = span
            .end_time
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(end_ms, expected_end_ms, "{sql}");
        assert_eq!(
            window_starts(&recorder, sql),
            vec![end_ms / width * width],
            "{sql}: its window holds its span's end"
        );
    }
}
