//! The recorder's costs: one query recorded (one hot key, or spread over 5000 keys, and the
//! whole observer path from a session event), a `/metrics` scrape and an API listing at 5000
//! fingerprints. `cargo bench -p pgscope-benches --bench recorder -- --memory N` instead fills
//! 5000 fingerprints × 60 windows with N calls per window and prints the resident memory it
//! costs (one configuration per process, so freed memory never hides a cost).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use pgscope::observer::Observer;
use pgscope::observer::{ConnectionInfo, Event, Outcome, Protocol, QueryFinished, Statement};
use pgscope::recorder::{Recorder, RecorderSettings};
use pgscope::shape::{Shape, Shapes};
use pgscope_exporters::prometheus::{encode_text, MetricsOptions};
use pgscope_exporters::view::{self, Query};
use pgscope_exporters::{Sample, SampleOutcome, StatsCollector, StatsSource};

/// The allocator of the `pgscope` binary, so that the memory figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A deterministic generator of log-normal latencies (median `median_us`, σ = 0.6).
struct Latencies(u64);

impl Latencies {
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self, median_us: f64) -> u64 {
        let (u, v) = (self.next_unit(), self.next_unit());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (median_us * (0.6 * normal).exp()) as u64
    }
}

fn connection() -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        database: "shop".into(),
        user: "web".into(),
        application_name: "api".into(),
        capture: None,
    })
}

fn analyses(shapes: &Shapes, n: usize) -> Vec<Arc<Shape>> {
    (0..n)
        .map(|i| shapes.analyze(&format!("SELECT c{i}, name FROM t{} WHERE id = 1", i % 50)))
        .collect()
}

/// A recorder holding `keys` fingerprints with `windows` one-minute windows of `per_window`
/// calls each (the analysis cache sized for them).
fn filled(keys: usize, windows: u64, per_window: u64) -> (Recorder, Vec<Arc<Shape>>) {
    let shapes = Arc::new(Shapes::new(
        keys,
        RecorderSettings::default().max_query_text,
    ));
    let all = analyses(&shapes, keys);
    let recorder = Recorder::new(
        RecorderSettings {
            max_entries: keys,
            ..RecorderSettings::default()
        },
        shapes,
    );
    let conn = connection();
    let start = recorder.clock().now_ms() - windows * 60_000;
    let mut latencies = Latencies(0x9e37_79b9_7f4a_7c15);
    for window in 0..windows {
        for (i, analysis) in all.iter().enumerate() {
            let median = 200.0 * (1.0 + (i % 100) as f64);
            for call in 0..per_window {
                let sample = Sample {
                    at_ms: start + window * 60_000 + call,
                    latency_us: latencies.next(median),
                    rows: Some(1),
                    outcome: SampleOutcome::Ok,
                    batched: false,
                    batch_us: None,
                };
                recorder.record_sample(&conn, analysis, &sample);
            }
        }
    }
    (recorder, all)
}

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("recorder/record");
    group.throughput(Throughput::Elements(1));
    let (recorder, all) = filled(5000, 2, 2);
    let conn = connection();
    let now = recorder.clock().now_ms();
    let mut latencies = Latencies(7);
    group.bench_function("hot_key", |b| {
        b.iter(|| {
            let sample = Sample {
                at_ms: now,
                latency_us: latencies.next(300.0),
                rows: Some(1),
                outcome: SampleOutcome::Ok,
                batched: false,
                batch_us: None,
            };
            recorder.record_sample(&conn, black_box(&all[0]), &sample);
        })
    });
    let mut next = 0usize;
    group.bench_function("5000_keys", |b| {
        b.iter(|| {
            next = (next + 1) % all.len();
            let sample = Sample {
                at_ms: now,
                latency_us: latencies.next(300.0),
                rows: Some(1),
                outcome: SampleOutcome::Ok,
                batched: false,
                batch_us: None,
            };
            recorder.record_sample(&conn, black_box(&all[next]), &sample);
        })
    });
    // The whole observer path: a session event, its statement's memoised analysis, the sample.
    let statement = Statement::new("SELECT c1, name FROM t1 WHERE id = 1");
    let start = Instant::now();
    group.bench_function("observe_event", |b| {
        b.iter(|| {
            let event = Event::QueryFinished(QueryFinished {
                connection: Arc::clone(&conn),
                statement: Arc::clone(&statement),
                protocol: Protocol::Extended,
                started: start,
                finished: start + Duration::from_micros(250),
                rows: Some(1),
                command: "SELECT".into(),
                outcome: Outcome::Ok,
                batched: false,
                batch: None,
            });
            recorder.observe(black_box(&event));
        })
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("recorder/read");
    group.sample_size(10);
    for keys in [500usize, 5000] {
        let (recorder, _) = filled(keys, 60, 3);
        let source: Arc<dyn StatsSource> = Arc::new(recorder);
        let registry = StatsCollector::new(Arc::clone(&source), MetricsOptions::default())
            .registry()
            .expect("a registry");
        group.bench_with_input(BenchmarkId::new("metrics_scrape", keys), &keys, |b, _| {
            b.iter(|| black_box(encode_text(&registry).expect("metrics").len()))
        });
        group.bench_with_input(BenchmarkId::new("api_top50", keys), &keys, |b, _| {
            b.iter(|| {
                black_box(
                    view::rows(source.as_ref(), &Query::default(), false)
                        .0
                        .len(),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("snapshot_write", keys), &keys, |b, _| {
            b.iter(|| {
                let mut bytes = Vec::new();
                pgscope_exporters::write_snapshot(source.as_ref(), &mut bytes).expect("snapshot");
                black_box(bytes.len())
            })
        });
    }
    group.finish();
}

/// Resident set size of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory(per_window: u64) {
    {
        let before = rss();
        let started = Instant::now();
        let (recorder, all) = filled(5000, 60, per_window);
        let after = rss();
        println!(
            "5000 fingerprints x 60 windows x {per_window} calls/window ({} samples, {:.1?}): \
             RSS +{:.1} MiB ({:.1} KiB per fingerprint), heap estimate {:.1} MiB, entries {}",
            5000 * 60 * per_window,
            started.elapsed(),
            (after - before) as f64 / 1048576.0,
            (after - before) as f64 / 1024.0 / 5000.0,
            recorder.heap_bytes() as f64 / 1048576.0,
            recorder.len()
        );
        drop((recorder, all));
    }
}

/// Records `n` events through the observer path (for `valgrind --tool=callgrind`: the
/// difference between two counts, divided by the difference in `n`, is the instructions per
/// query, independent of machine noise).
fn instructions(n: u64) {
    let (recorder, _) = filled(5000, 1, 1);
    let conn = connection();
    let statements: Vec<Arc<Statement>> = (0..5000)
        .map(|i| Statement::new(format!("SELECT c{i}, name FROM t{} WHERE id = 1", i % 50)))
        .collect();
    let start = Instant::now();
    for i in 0..n {
        let statement = &statements[(i % 5000) as usize];
        let event = Event::QueryFinished(QueryFinished {
            connection: Arc::clone(&conn),
            statement: Arc::clone(statement),
            protocol: Protocol::Extended,
            started: start,
            finished: start + Duration::from_micros(100 + i % 1000),
            rows: Some(1),
            command: "SELECT".into(),
            outcome: Outcome::Ok,
            batched: false,
            batch: None,
        });
        recorder.observe(black_box(&event));
    }
    println!("recorded {n} events; {} entries", recorder.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--memory") {
        memory(args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(30));
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == "--instructions") {
        let n = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        instructions(n);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    record(&mut criterion);
    read(&mut criterion);
    criterion.final_summary();
}
