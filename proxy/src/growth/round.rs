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
/// touching `tables[i]`. The windows of the fingerprints judged for slower without growth get
/// their `common` factor filled in.
pub fn assess_round(
    settings: &Settings,
    windows: &mut [Vec<WindowSample>],
    tables: &[Tables<'_>],
) -> Vec<Option<Finding>> {
    let mut findings: Vec<Option<Finding>> = windows
        .iter()
        .zip(tables)
        .map(|(w, t)| assess(settings, w, t))
        .collect();
    let explained: Vec<bool> = findings
        .iter()
        .map(|f| {
            f.as_ref()
                .is_some_and(|f| matches!(f.class, Class::ScanGrowth | Class::ResultGrowth))
        })
        .collect();
    let common = common_per_window(windows, &explained, settings.min_calls);
    for (i, factors) in common.iter().enumerate() {
        if explained[i] || !tables_flat(settings, &windows[i], &tables[i]) {
            continue;
        }
        for w in &mut windows[i] {
            w.common = factors.get(&w.start_ms).copied().unwrap_or(1.0);
        }
        findings[i] = assess(settings, &windows[i], &tables[i]);
    }
    findings
}

/// Per series, the common factor (see [`common_factors`]) of the other series not `excluded`, in
/// each of its windows with at least `min_calls` calls, by window start. Excluded series give
/// nothing to the others.
fn common_per_window(
    windows: &[Vec<WindowSample>],
    excluded: &[bool],
    min_calls: u64,
) -> Vec<HashMap<u64, f64>> {
    let usable: Vec<Vec<(u64, f64)>> = windows
        .iter()
        .zip(excluded)
        .map(|(ws, excluded)| {
            ws.iter()
                .filter(|w| !excluded && w.calls >= min_calls && w.p95_ms.is_finite())
                .map(|w| (w.start_ms, w.p95_ms))
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
        let findings = assess_round(&Settings::default(), &mut windows, &tables);
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
}
