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
            p10_ms: p50(i),
            p50_ms: p50(i),
            p95_ms: p50(i) * 1.5,
            rows_per_call: rows(i),
            common: 1.0,
            common_p10: 1.0,
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
    let sizes = sizes(15, 1e6, 1.0);
    let ws = windows(15, |i| 1.0 + i as f64, |_| 1.0);
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
    assert_eq!(finding.table, None);
    assert!(finding.slowdown > 3.0, "{finding:?}");
    let test = finding.slowdown_test.unwrap();
    assert!(
        test.increase_ms > 10.0 && test.p_value < 0.01,
        "{finding:?}"
    );
}

#[test]
fn a_flat_query_slowed_as_much_as_the_other_queries_is_not_slower_without_growth() {
    // The server gets busier over the first 20 windows (say, scans of growing tables taking the
    // CPU): every other query is up to 3x slower than usual, and this CPU-bound one with them.
    let flat = sizes(30, 1e6, 1.0);
    let busy = |i: u64| 1.0 + 2.0 * (i.min(20) as f64 / 20.0);
    let mut ws = windows(30, |i| 3.0 * busy(i) * (1.0 + 0.05 * noise(i)), |_| 1.0);
    for (i, w) in ws.iter_mut().enumerate() {
        w.common = busy(i as u64) * (1.0 + 0.05 * noise(i as u64 + 7));
    }
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &flat)]), None);
    // The same series while the others are as usual is a slowdown of its own.
    for w in ws.iter_mut() {
        w.common = 1.0;
    }
    let finding = assess(&Settings::default(), &ws, &[("t", &flat)]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
}

#[test]
fn a_query_without_tables_can_be_slower_without_growth() {
    let ws = windows(15, |i| 1.0 + 2.0 * i as f64, |_| 1.0);
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

/// How many of `all`'s windows (at least 5) the detector needs to say scan growth of table `t`.
fn windows_to_scan_growth(all: &[WindowSample], samples: &[SizeSample]) -> u64 {
    (5..=all.len() as u64)
        .find(|&n| {
            assess(
                &Settings::default(),
                &all[..n as usize],
                &[("t", &samples[..n as usize])],
            )
            .is_some_and(|f| f.class == Class::ScanGrowth)
        })
        .expect("never flagged")
}

/// Windows with a p50 and a p95 of their own.
fn tail_windows(n: u64, p50: impl Fn(u64) -> f64, p95: impl Fn(u64) -> f64) -> Vec<WindowSample> {
    (0..n)
        .map(|i| WindowSample {
            start_ms: i * WIDTH,
            width_ms: WIDTH,
            calls: 100,
            p10_ms: p50(i),
            p50_ms: p50(i),
            p95_ms: p95(i),
            rows_per_call: 1.0,
            common: 1.0,
            common_p10: 1.0,
        })
        .collect()
}

#[test]
fn an_index_lookup_whose_tail_rose_on_a_busy_machine_is_not_scan_growth() {
    // The table grows 32x; the median stays ~1 ms, the p95 climbs 1 -> 11 ms (elasticity ~0.7).
    let sizes = sizes(16, 1e6, 2f64.powf(1.0 / 3.0));
    let ws = tail_windows(
        16,
        |i| 1.0 + 0.05 * noise(i),
        |i| 1.0 * 1.6f64.powi(i as i32 / 3) * (1.0 + 0.1 * noise(i + 7)),
    );
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    assert_eq!(finding.class, Class::TailLatencyRose, "{finding:?}");
    assert!(finding.p95_elasticity.unwrap().slope > 0.5, "{finding:?}");
    assert!(finding.forecast.is_none());
}

#[test]
fn a_median_drifting_a_little_on_a_huge_growth_is_not_scan_growth() {
    // Median elasticity 0.05 over 32x (1.0 -> 1.19 ms): real, but doubling the table now adds
    // under 4%.
    let sizes = sizes(16, 1e6, 2f64.powf(1.0 / 3.0));
    let ws = tail_windows(
        16,
        |i| (1e6 * 2f64.powf(i as f64 / 3.0)).powf(0.05) / 1e6f64.powf(0.05),
        |i| 2.0 + 0.01 * noise(i),
    );
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn a_constant_sleep_on_a_growing_table_is_not_flagged() {
    let sizes = sizes(16, 1e6, 1.25);
    let ws = tail_windows(16, |i| 50.0 + 0.3 * noise(i), |i| 51.0 + 0.5 * noise(i + 3));
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &sizes)]), None);
}

#[test]
fn a_scan_diluted_by_fixed_cost_is_flagged_within_three_windows_of_passing_one_and_a_half() {
    // 0.7 ms per call plus 0.3 ms per initial table size: 1.0 ms at 1x, 1.3 ms at 2x, which a
    // pure power law reads as elasticity 0.39. Five windows at 1x, then +10% per window.
    let size = |i: u64| 1e6 * 1.1f64.powi(i.saturating_sub(5) as i32);
    let samples: Vec<SizeSample> = (0..30)
        .map(|i| SizeSample {
            at_ms: i * WIDTH + WIDTH / 2,
            bytes: size(i) as u64,
        })
        .collect();
    let all = tail_windows(
        30,
        |i| (0.7 + 0.3 * size(i) / 1e6) * (1.0 + 0.02 * noise(i)),
        |i| (0.7 + 0.3 * size(i) / 1e6) * 1.5,
    );
    let passed = (0..30).find(|&i| size(i) >= 1.5e6).unwrap();
    let flagged = windows_to_scan_growth(&all, &samples);
    let last = flagged - 1;
    assert!(last <= passed + 3, "window {last}, passed 1.5x at {passed}");
    let finding = assess(
        &Settings::default(),
        &all[..flagged as usize],
        &[("t", &samples[..flagged as usize])],
    )
    .unwrap();
    let k = finding.variable_elasticity.unwrap();
    assert!(k.slope > 0.7 && k.low > 0.0, "{finding:?}");
    assert!(finding.p50_elasticity.unwrap().slope < 0.5, "{finding:?}");
    assert!((finding.fixed_ms.unwrap() - 0.7).abs() < 0.1, "{finding:?}");
}

#[test]
fn one_slow_window_each_side_is_not_slower_without_growth() {
    let flat = sizes(15, 1e6, 1.0);
    // Every call slower by the same factor as the p95 (a regression of its own), p50 = p95 / 1.4.
    let own = |n: u64, p95: fn(u64) -> f64| {
        quantile_windows(n, move |i| p95(i) / 2.0, move |i| p95(i) / 1.4, p95)
    };
    // The false alarm: p95 1.4 -> 3.4 ms on the first and last window only.
    let ws = own(6, |i| if i == 5 { 3.4 } else { 1.4 });
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &flat)]), None);
    // Noisy windows with no trend, as large as the rise above.
    let ws = own(15, |i| if i % 2 == 0 { 1.4 } else { 3.4 });
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &flat)]), None);
    // A sustained rise of the same size is.
    let ws = own(15, |i| if i < 8 { 1.4 } else { 3.4 });
    let finding = assess(&Settings::default(), &ws, &[("t", &flat)]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
}

#[test]
fn a_sustained_slowdown_below_the_absolute_minimum_is_not_flagged() {
    let flat = sizes(15, 1e6, 1.0);
    // 0.1 -> 0.3 ms: three times slower, significant, but 0.2 ms is below 1 ms.
    let p95 = |i: u64| if i < 8 { 0.1 } else { 0.3 };
    let ws = quantile_windows(15, |i| p95(i) / 2.0, |i| p95(i) / 1.5, p95);
    assert_eq!(assess(&Settings::default(), &ws, &[("t", &flat)]), None);
    let lenient = Settings {
        min_slowdown_ms: 0.1,
        ..Settings::default()
    };
    assert!(assess(&lenient, &ws, &[("t", &flat)]).is_some());
}

#[test]
fn the_forecast_uses_the_recent_rate_and_says_when_the_table_stopped() {
    let mut samples = sizes(12, 1e6, 1.3);
    // Growing 1.3x a window until window 11, then 1.05x over the last three samples.
    let last = samples[11].bytes as f64;
    for i in 12..15u64 {
        samples.push(SizeSample {
            at_ms: i * WIDTH + WIDTH / 2,
            bytes: (last * 1.05f64.powi(i as i32 - 11)) as u64,
        });
    }
    let to_2x = seconds_to_double(&samples).unwrap();
    // ln 2 / (ln 1.05 / 10 s) ≈ 142 s, not the 26 s of the whole history.
    assert!((to_2x - 142.0).abs() < 5.0, "{to_2x}");
    let stopped = samples[14];
    samples.push(SizeSample {
        at_ms: stopped.at_ms + WIDTH,
        bytes: stopped.bytes,
    });
    assert_eq!(seconds_to_double(&samples), None);
}

#[test]
fn the_explanation_names_the_figure_the_decision_used() {
    let sizes = sizes(12, 1e6, 1.3);
    let ws = windows(12, |i| 0.7 + 0.3 * 1.3f64.powi(i as i32), |_| 1.0);
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]).unwrap();
    let k = finding.variable_elasticity.unwrap();
    let text = crate::growth::flag::explanation(&finding, None);
    let figure = format!(
        "p10 latency elasticity of its size-dependent part {:.2} [{:.2}, {:.2}]",
        k.slope, k.low, k.high
    );
    assert!(text.contains(&figure), "{text}");
    // The pure power-law figure (0.6 here) is not what was decided on: it is not quoted.
    let raw = finding.p10_elasticity.unwrap().slope;
    assert!(raw < k.slope - 0.1, "{finding:?}");
    assert!(!text.contains(&format!("{raw:.2}")), "{text}");
}

#[test]
fn only_queries_on_flat_tables_can_be_slower_without_growth() {
    let ws = windows(15, |_| 1.0, |_| 1.0);
    let flat = sizes(15, 1e6, 1.0);
    let grown = sizes(15, 1e6, 1.1);
    assert!(tables_flat(&Settings::default(), &ws, &[("t", &flat)]));
    assert!(tables_flat(&Settings::default(), &ws, &[]));
    assert!(!tables_flat(
        &Settings::default(),
        &ws,
        &[("t", &flat), ("u", &grown)]
    ));
}

/// Windows with a p10, a p50 and a p95 of their own.
fn quantile_windows(
    n: u64,
    p10: impl Fn(u64) -> f64,
    p50: impl Fn(u64) -> f64,
    p95: impl Fn(u64) -> f64,
) -> Vec<WindowSample> {
    (0..n)
        .map(|i| WindowSample {
            p10_ms: p10(i),
            p50_ms: p50(i),
            p95_ms: p95(i),
            ..tail_windows(i + 1, |_| 0.0, |_| 0.0)[i as usize]
        })
        .collect()
}

#[test]
fn a_scan_is_flagged_on_its_fastest_calls_while_contention_drowns_its_median() {
    // Five windows at 1x, then the table doubles every two windows (the scenario's shape). The
    // work is 0.3 ms fixed + 0.6 ms per 1x; contention multiplies the median by 2-6x at random
    // and the p95 by more, but the fastest tenth of calls stays within 5% of the work.
    let size = |i: u64| 1e6 * 2f64.powi((i.saturating_sub(3) / 2) as i32);
    let samples: Vec<SizeSample> = (0..20)
        .map(|i| SizeSample {
            at_ms: i * WIDTH + WIDTH / 2,
            bytes: size(i) as u64,
        })
        .collect();
    let work = |i: u64| 0.3 + 0.6 * size(i) / 1e6;
    // How many times the work each window's median took: as busy as the machine was then.
    const CONTENTION: [f64; 8] = [2.0, 6.0, 3.0, 5.5, 2.5, 2.2, 3.5, 4.0];
    let all = quantile_windows(
        20,
        |i| work(i) * (1.0 + 0.05 * noise(i)),
        |i| work(i) * CONTENTION[i as usize % 8],
        |i| work(i) * 3.0 * CONTENTION[(i as usize + 3) % 8],
    );
    let passed = (0..20).find(|&i| size(i) >= 1.5e6).unwrap();
    let flagged = windows_to_scan_growth(&all, &samples);
    // Flagged on the second window at 2x; the medians of those windows lie inside the
    // baseline's spread, so the median's interval still includes 0.
    assert!(
        flagged - 1 <= passed + 1,
        "window {flagged}, passed at {passed}"
    );
    let finding = assess(
        &Settings::default(),
        &all[..flagged as usize],
        &[("t", &samples[..flagged as usize])],
    )
    .unwrap();
    assert!(finding.p10_elasticity.unwrap().low > 0.0, "{finding:?}");
    assert!(finding.p50_elasticity.unwrap().low <= 0.0, "{finding:?}");
    let k = finding.variable_elasticity.unwrap();
    assert!(k.slope > 0.7 && k.low > 0.0, "{finding:?}");
}

#[test]
fn a_lookup_whose_median_and_tail_follow_the_load_is_not_growth() {
    // The table grows 1.3x a window (about 40x); the machine gets busier with it (the growing
    // scans take the cores), so the lookup's median and p95 rise with the size, but its fastest
    // calls do not: the work per call is flat.
    let sizes = sizes(15, 1e6, 1.3);
    let load = |i: u64| 1.3f64.powi(i as i32).powf(0.6);
    let ws = quantile_windows(
        15,
        |i| 0.2 * (1.0 + 0.1 * noise(i)),
        |i| 0.4 * load(i) * (1.0 + 0.2 * noise(i + 5)),
        |i| 2.0 * load(i) * (1.0 + 0.2 * noise(i + 9)),
    );
    let finding = assess(&Settings::default(), &ws, &[("t", &sizes)]);
    assert_eq!(
        finding.as_ref().map(|f| f.class),
        Some(Class::TailLatencyRose),
        "{finding:?}"
    );
}

#[test]
fn a_longer_baseline_tolerates_a_burst_window_that_a_short_one_cannot() {
    // `base` windows at 1x, then two at 2x; the p10 is the work (0.9 ms, 1.5 ms at 2x) except
    // one baseline window, where a burst of contention lifted even the fastest calls to 2.2 ms.
    let verdict = |base: u64| {
        let n = base + 2;
        let size = |i: u64| if i < base { 1e6 } else { 2e6 };
        let samples: Vec<SizeSample> = (0..n)
            .map(|i| SizeSample {
                at_ms: i * WIDTH + WIDTH / 2,
                bytes: size(i) as u64,
            })
            .collect();
        let p10 = |i: u64| match i {
            1 => 2.2,
            i if i < base => 0.9 * (1.0 + 0.05 * noise(i)),
            i => 1.5 * (1.0 + 0.05 * noise(i)),
        };
        let ws = quantile_windows(n, p10, |i| 4.0 * p10(i), |i| 12.0 * p10(i));
        assess(&Settings::default(), &ws, &[("t", &samples)]).map(|f| f.class)
    };
    // Four baseline windows (the scenario's 8 s): both grown windows must stand above every
    // baseline window, the burst included.
    assert_eq!(verdict(4), None);
    // Twenty (a deployment's usual history): Sen's interval tolerates the burst.
    assert_eq!(verdict(20), Some(Class::ScanGrowth));
}

#[test]
fn a_flat_query_whose_tail_rose_while_its_fastest_calls_did_not_is_not_slower_without_growth() {
    // A CPU-bound scan of a flat table on a machine that got busier: its p95 and median rose
    // 2.4x and 1.5x, more than the short queries that make the reference (common factor 1), but
    // its fastest tenth of calls did not move: contention, not a regression of its own.
    let flat = sizes(15, 1e6, 1.0);
    let p95 = |i: u64| if i < 8 { 14.0 } else { 34.0 } * (1.0 + 0.05 * noise(i));
    let tail = quantile_windows(
        15,
        |i| 1.2 * (1.0 + 0.1 * noise(i + 3)),
        |i| if i < 8 { 2.4 } else { 3.6 } * (1.0 + 0.1 * noise(i + 5)),
        p95,
    );
    assert_eq!(assess(&Settings::default(), &tail, &[("t", &flat)]), None);
    // The same tail with every call 10 ms slower (a lock every call waits for) is.
    let waiting = quantile_windows(
        15,
        |i| 1.2 * (1.0 + 0.1 * noise(i + 3)) + if i < 8 { 0.0 } else { 10.0 },
        |i| if i < 8 { 2.4 } else { 13.6 } * (1.0 + 0.1 * noise(i + 5)),
        p95,
    );
    let finding = assess(&Settings::default(), &waiting, &[("t", &flat)]).unwrap();
    assert_eq!(finding.class, Class::SlowerWithoutGrowth);
    assert!(
        finding.slowdown_test.unwrap().floor_ratio > 5.0,
        "{finding:?}"
    );
}
