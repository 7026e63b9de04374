use super::*;

const WIDTH: u64 = 10_000;

/// Deterministic pseudo-noise in [-1, 1).
fn noise(i: u64) -> f64 {
    ((i.wrapping_mul(2_654_435_761) % 2000) as f64 / 1000.0) - 1.0
}

/// Sizes sampled at every window's middle, growing from `from` by `factor` per window.
fn sizes(n: u64, from: f64, factor: f64) -> Vec<SizeSample> {
    (0..n)
        .map(|i| SizeSample {
            at_ms: i * WIDTH + WIDTH / 2,
            bytes: (from * factor.powi(i as i32)) as u64,
        })
        .collect()
}

/// Windows whose latency and rows per call are functions of the window index.
fn windows(n: u64, p50: impl Fn(u64) -> f64, rows: impl Fn(u64) -> f64) -> Vec<WindowSample> {
    (0..n)
        .map(|i| WindowSample {
            start_ms: i * WIDTH,
            width_ms: WIDTH,
            calls: 100,
            p50_ms: p50(i),
            p95_ms: p50(i) * 1.5,
            rows_per_call: rows(i),
        })
        .collect()
}

#[test]
fn latency_proportional_to_a_growing_table_is_scan_growth_with_elasticity_near_one() {
    let sizes = sizes(12, 1e6, 1.3);
    let ws = windows(
        12,
        |i| 2.0 * 1.3f64.powi(i as i32) * (1.0 + 0.05 * noise(i)),
        |_| 1.0,
    );
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::ScanGrowth);
    assert_eq!(finding.table.as_deref(), Some("t"));
    let e = finding.p50_elasticity.unwrap();
    assert!((e.slope - 1.0).abs() < 0.1, "{e:?}");
    assert!(finding.growth.unwrap() > 10.0);
    let f = finding.forecast.unwrap();
    assert!((f.p95_at_2x_ms / f.p95_now_ms - 2.0).abs() < 0.2, "{f:?}");
    assert!((f.p95_at_10x_ms / f.p95_now_ms - 10.0).abs() < 2.5, "{f:?}");
    // 1.3× per 10 s window: doubling takes ln 2 / (ln 1.3 / 10 s) ≈ 26.4 s.
    let to_2x = f.seconds_to_2x.unwrap();
    assert!((to_2x - 26.4).abs() < 1.0, "{to_2x}");
}

#[test]
fn latency_flat_while_the_table_grows_is_not_flagged() {
    let sizes = sizes(12, 1e6, 1.3);
    let ws = windows(12, |i| 0.2 * (1.0 + 0.1 * noise(i)), |_| 1.0);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn rows_per_call_growing_with_the_table_is_result_growth() {
    let sizes = sizes(12, 1e6, 1.3);
    let ws = windows(
        12,
        |i| 1.3f64.powi(i as i32),
        |i| 10.0 * 1.3f64.powi(i as i32),
    );
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::ResultGrowth);
    assert!(finding.rows_elasticity.unwrap().slope > 0.8);
}

#[test]
fn slower_on_a_flat_table_is_slower_without_growth_not_growth() {
    let sizes = sizes(12, 1e6, 1.0);
    let ws = windows(12, |i| 1.0 + i as f64, |_| 1.0);
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
    assert_eq!(finding.table, None);
    assert!(finding.slowdown > 3.0, "{finding:?}");
}

#[test]
fn a_query_without_tables_can_be_slower_without_growth() {
    let ws = windows(9, |i| 1.0 + 2.0 * i as f64, |_| 1.0);
    let finding = assess(&Settings::default(), &ws, &[]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
}

#[test]
fn too_few_windows_give_no_flag() {
    let sizes = sizes(4, 1e6, 2.0);
    let ws = windows(4, |i| 2f64.powi(i as i32), |_| 1.0);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn windows_with_too_few_calls_do_not_count() {
    let sizes = sizes(12, 1e6, 1.3);
    let mut ws = windows(12, |i| 1.3f64.powi(i as i32), |_| 1.0);
    for w in ws.iter_mut().skip(3) {
        w.calls = 1;
    }
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn a_shrinking_table_is_not_blamed() {
    let sizes = sizes(12, 1e8, 0.7);
    // Latency falls as the table shrinks: elasticity is positive, but the table did not grow.
    let ws = windows(12, |i| 0.7f64.powi(i as i32) * 100.0, |_| 1.0);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn outlier_windows_do_not_create_or_hide_a_flag() {
    let sizes = sizes(15, 1e6, 1.2);
    let spiky = |i: u64| if i % 5 == 2 { 500.0 } else { 0.3 };
    let ws = windows(15, spiky, |_| 1.0);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
    let growing = |i: u64| {
        if i == 4 || i == 11 {
            0.01
        } else {
            1.2f64.powi(i as i32)
        }
    };
    let ws = windows(15, growing, |_| 1.0);
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::ScanGrowth);
}

#[test]
fn the_growing_table_is_blamed_among_several() {
    let flat = sizes(12, 1e6, 1.0);
    let growing = sizes(12, 1e6, 1.3);
    let ws = windows(12, |i| 1.3f64.powi(i as i32), |_| 1.0);
    let finding = assess(
        &Settings::default(),
        &ws,
        &[("small", &flat), ("big", &growing)],
    )
    .unwrap();
    assert_eq!(finding.table.as_deref(), Some("big"));
}

#[test]
fn growth_below_the_threshold_is_not_blamed() {
    let sizes = sizes(12, 1e6, 1.02);
    let ws = windows(12, |i| 1.02f64.powi(i as i32), |_| 1.0);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn size_is_interpolated_between_samples_and_unknown_far_outside_them() {
    let samples = [
        SizeSample {
            at_ms: 1000,
            bytes: 100,
        },
        SizeSample {
            at_ms: 3000,
            bytes: 300,
        },
    ];
    assert_eq!(size_at(&samples, 2000, 0), Some(200.0));
    assert_eq!(size_at(&samples, 500, 600), Some(100.0));
    assert_eq!(size_at(&samples, 500, 0), None);
    assert_eq!(size_at(&samples, 9000, 0), None);
    assert_eq!(size_at(&[], 9000, 0), None);
}
