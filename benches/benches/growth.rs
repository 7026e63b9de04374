//! The growth detector's cost: one full detection run over 5000 fingerprints, each with 60
//! windows and one to three tables sampled 60 times (the defaults: 60 one-minute windows, one
//! sample a minute), as `GrowthMonitor` runs it once per `growth.interval`. A third of the
//! fingerprints scale with their table, a third are flat, a third are noisy.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use pgscope::growth::detector::{assess, Settings, SizeSample, WindowSample};

const FINGERPRINTS: usize = 5000;
const WINDOWS: u64 = 60;
const WIDTH_MS: u64 = 60_000;

/// Deterministic noise in [-1, 1).
fn noise(seed: u64) -> f64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 2000) as f64 / 1000.0 - 1.0
}

struct Fixture {
    windows: Vec<WindowSample>,
    tables: Vec<Vec<SizeSample>>,
}

fn fixture(i: usize) -> Fixture {
    let kind = i % 3;
    let growth = 1.0 + 0.03 * (i % 7) as f64;
    let tables = (0..1 + i % 3)
        .map(|t| {
            (0..WINDOWS)
                .map(|w| SizeSample {
                    at_ms: w * WIDTH_MS + WIDTH_MS / 2,
                    bytes: (1e6 * (1 + t) as f64 * growth.powi(w as i32)) as u64,
                })
                .collect()
        })
        .collect();
    let windows = (0..WINDOWS)
        .map(|w| {
            let base = match kind {
                0 => 0.5 * growth.powi(w as i32),
                1 => 0.5,
                _ => 0.5 * (1.0 + 0.5 * noise(i as u64 * 1000 + w)),
            };
            WindowSample {
                start_ms: w * WIDTH_MS,
                width_ms: WIDTH_MS,
                calls: 50,
                p10_ms: base * 0.8,
                p50_ms: base,
                p95_ms: base * 1.8,
                rows_per_call: 1.0,
                common: 1.0,
                common_p10: 1.0,
            }
        })
        .collect();
    Fixture { windows, tables }
}

fn run(fixtures: &[Fixture], settings: &Settings) -> usize {
    fixtures
        .iter()
        .filter(|f| {
            let names = ["a", "b", "c"];
            let tables: Vec<(&str, &[SizeSample])> = f
                .tables
                .iter()
                .enumerate()
                .map(|(i, t)| (names[i], t.as_slice()))
                .collect();
            assess(settings, &f.windows, &tables).is_some()
        })
        .count()
}

fn main() {
    let fixtures: Vec<Fixture> = (0..FINGERPRINTS).map(fixture).collect();
    let settings = Settings::default();
    let flagged = run(&fixtures, &settings);
    eprintln!("flagged {flagged} of {FINGERPRINTS}");
    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    let mut group = criterion.benchmark_group("growth");
    group.throughput(Throughput::Elements(FINGERPRINTS as u64));
    group.bench_function("detect_5000_fingerprints_60_windows", |b| {
        b.iter(|| black_box(run(black_box(&fixtures), &settings)))
    });
    group.finish();
    criterion.final_summary();
}
