//! One detection round over every fingerprint at once: the pure part of the monitor's round.
//!
//! The verdicts are not independent: "slower without growth" is judged relative to the other
//! queries in the same windows (their common factor, see [`super::common`]), and the queries
//! whose latency their own table's growth explains (scan or result growth) are left out of that
//! reference. So a round runs in two passes: every fingerprint is assessed alone, then the
//! common factors of the unexplained ones are computed and the fingerprints on flat tables are
//! assessed again against them.
//!
//! Nothing here reads a clock, a socket or the recorder; the monitor feeds it, and a recorded
//! round (windows and size samples) can be replayed through it exactly.

use std::collections::HashMap;

use super::common::common_factors;
use super::detector::{assess, tables_flat, Class, Finding, Settings, SizeSample, WindowSample};

/// The tables of one fingerprint, each with its size samples oldest first.
pub type Tables<'a> = Vec<(&'a str, &'a [SizeSample])>;

/// The verdict on each fingerprint, in order: `windows[i]` (oldest first) of fingerprint `i`
/// touching `tables[i]`; `bounded[i]` when the server's plan of fingerprint `i` is known to
/// reach its tables only through bounded index probes (the monitor turns its scan growth into
/// an observation, so its table does not explain it and it stays in the others' reference: on
/// a saturated CPU even a lookup's fastest calls follow the scans, and leaving the lookups out
/// would leave the reference empty when it is needed most). The windows of the fingerprints
/// judged for slower without growth get their `common` and `common_p10` factors filled in.
pub fn assess_round(
    settings: &Settings,
    windows: &mut [Vec<WindowSample>],
    tables: &[Tables<'_>],
    bounded: &[bool],
) -> Vec<Option<Finding>> {
    let mut findings: Vec<Option<Finding>> = windows
        .iter()
        .zip(tables)
        .map(|(w, t)| assess(settings, w, t))
        .collect();
    let explained: Vec<bool> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.as_ref().is_some_and(|f| match f.class {
                Class::ScanGrowth => !bounded.get(i).copied().unwrap_or(false),
                Class::ResultGrowth => true,
                _ => false,
            })
        })
        .collect();
    let common = common_per_window(windows, &explained, settings.min_calls, |w| w.p95_ms);
    let common_p10 = common_per_window(windows, &explained, settings.min_calls, |w| w.p10_ms);
    for (i, (factors, floors)) in common.iter().zip(&common_p10).enumerate() {
        if explained[i] || !tables_flat(settings, &windows[i], &tables[i]) {
            continue;
        }
        for w in &mut windows[i] {
            w.common = factors.get(&w.start_ms).copied().unwrap_or(1.0);
            w.common_p10 = floors.get(&w.start_ms).copied().unwrap_or(1.0);
        }
        findings[i] = assess(settings, &windows[i], &tables[i]);
    }
    findings
}

/// Per series, the common factor (see [`common_factors`]) of `figure` (p95 or p10) of the other
/// series not `excluded`, in each of its windows with at least `min_calls` calls, by window
/// start. Excluded series give nothing to the others.
fn common_per_window(
    windows: &[Vec<WindowSample>],
    excluded: &[bool],
    min_calls: u64,
    figure: impl Fn(&WindowSample) -> f64,
) -> Vec<HashMap<u64, f64>> {
    let usable: Vec<Vec<(u64, f64)>> = windows
        .iter()
        .zip(excluded)
        .map(|(ws, excluded)| {
            ws.iter()
                .filter(|w| !excluded && w.calls >= min_calls && w.p95_ms.is_finite())
                .map(|w| (w.start_ms, figure(w)))
                .collect()
        })
        .collect();
    usable
        .iter()
        .zip(common_factors(&usable))
        .map(|(ws, factors)| ws.iter().map(|w| w.0).zip(factors).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDTH: u64 = 10_000;

    fn sizes(factor: f64) -> Vec<SizeSample> {
        (0..15u64)
            .map(|i| SizeSample {
                at_ms: i * WIDTH + WIDTH / 2,
                bytes: (1e6 * factor.powi(i as i32)) as u64,
            })
            .collect()
    }

    fn series(p50: impl Fn(u64) -> f64) -> Vec<WindowSample> {
        (0..15u64)
            .map(|i| WindowSample {
                start_ms: i * WIDTH,
                width_ms: WIDTH,
                calls: 100,
                p10_ms: p50(i),
                p50_ms: p50(i),
                p95_ms: p50(i) * 1.5,
                rows_per_call: 1.0,
                common: 1.0,
                common_p10: 1.0,
            })
            .collect()
    }

    #[test]
    fn a_scan_of_a_growing_table_does_not_count_in_the_others_reference() {
        let (growing, flat) = (sizes(1.3), sizes(1.0));
        // A scan following its table, four flat queries as usual, one flat query 4x slower in
        // its last third.
        let mut windows = vec![series(|i| 2.0 * 1.3f64.powi(i as i32))];
        for q in 0..4u64 {
            windows.push(series(move |i| 1.0 + 0.01 * ((i + q) % 3) as f64));
        }
        windows.push(series(|i| if i < 10 { 1.0 } else { 4.0 }));
        let mut tables: Vec<Tables<'_>> = vec![vec![("grow", &growing[..])]];
        tables.extend((0..5).map(|_| vec![("flat", &flat[..])]));
        let findings = assess_round(&Settings::default(), &mut windows, &tables, &[]);
        let classes: Vec<Option<Class>> = findings
            .iter()
            .map(|f| f.as_ref().map(|f| f.class))
            .collect();
        assert_eq!(
            classes,
            vec![
                Some(Class::ScanGrowth),
                None,
                None,
                None,
                None,
                Some(Class::SlowerWithoutGrowth)
            ]
        );
        // The slowed query's reference is the four flat ones, as usual: the scan 13x slower
        // over the same windows does not move it.
        assert!(
            windows[5].iter().all(|w| (w.common - 1.0).abs() < 0.02),
            "{:?}",
            windows[5]
        );
    }

    #[test]
    fn a_lookup_whose_plan_is_a_bounded_probe_stays_in_the_others_reference() {
        let (growing, flat) = (sizes(1.3), sizes(1.0));
        // A lookup on a growing table whose latency follows the saturated CPU (the detector
        // alone calls it scan growth), two flat queries slowed as much from window 10, and the
        // query judged for slower without growth.
        let busy = |i: u64| if i < 10 { 1.0 } else { 3.0 };
        let mut windows = vec![series(|i| 0.2 * 1.3f64.powi(i as i32))];
        for q in 0..2u64 {
            windows.push(series(move |i| {
                busy(i) * (1.0 + 0.01 * ((i + q) % 3) as f64)
            }));
        }
        windows.push(series(|i| 5.0 * busy(i)));
        let mut tables: Vec<Tables<'_>> = vec![vec![("grow", &growing[..])]];
        tables.extend((0..3).map(|_| vec![("flat", &flat[..])]));
        let settings = Settings::default();
        let mut alone = windows.clone();
        assess_round(&settings, &mut alone, &tables, &[]);
        // Taken as explained by its table, the lookup leaves two others: no reference.
        assert!(alone[3]
            .iter()
            .all(|w| w.common_p10 == 1.0 && w.common == 1.0));
        let findings = assess_round(
            &settings,
            &mut windows,
            &tables,
            &[true, false, false, false],
        );
        // Known to be a bounded probe, it counts: the others were 3x slower from window 10, and
        // so the query, as slow as they, is not slower without growth.
        assert!(windows[3][12].common_p10 > 2.0, "{:?}", windows[3][12]);
        assert!(windows[3][12].common > 2.0, "{:?}", windows[3][12]);
        assert_eq!(findings[3], None);
    }
}
