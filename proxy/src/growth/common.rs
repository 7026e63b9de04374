//! The other queries' common latency factor per window: how much slower than usual the *other*
//! fingerprints were in a window, which is what a busy server (CPU, I/O, a checkpoint, another
//! tenant's batch) does to every query at once, whether or not pgscope sees the cause.
//!
//! Each fingerprint's windows (those with enough calls) are put on one scale: `ln p95` minus the
//! median `ln p95` of its own windows, so 0 is "as usual for it" whatever its latency. In each
//! window the factor for a fingerprint is `exp` of the median of the *other* fingerprints' values
//! there: a median, so the few queries with a cause of their own (a growing table, a lock) do
//! not move it. With fewer than [`MIN_OTHERS`] others in a window there is no reference and the
//! factor is 1.
//!
//! Cost: one sort per window over the fingerprints active in it, then O(log n) per fingerprint
//! and window.

use super::estimate::median;

/// Fewest other fingerprints in a window for their median to be a reference.
pub const MIN_OTHERS: usize = 3;

/// For each series of `(window start ms, p95 ms)` (usable windows only), the common factor of
/// the others in each of its windows, in the same order.
pub fn common_factors(series: &[Vec<(u64, f64)>]) -> Vec<Vec<f64>> {
    let normalized: Vec<Vec<(u64, f64)>> = series
        .iter()
        .map(|windows| {
            let mut logs: Vec<f64> = windows.iter().map(|(_, p95)| p95.max(1e-3).ln()).collect();
            let usual = median(&mut logs).unwrap_or(0.0);
            windows
                .iter()
                .map(|(start, p95)| (*start, p95.max(1e-3).ln() - usual))
                .collect()
        })
        .collect();
    let mut by_window: std::collections::HashMap<u64, Vec<f64>> = Default::default();
    for (start, value) in normalized.iter().flatten() {
        by_window.entry(*start).or_default().push(*value);
    }
    for values in by_window.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    normalized
        .iter()
        .map(|windows| {
            windows
                .iter()
                .map(|(start, own)| {
                    by_window
                        .get(start)
                        .and_then(|all| median_without(all, *own))
                        .map_or(1.0, f64::exp)
                })
                .collect()
        })
        .collect()
}

/// The median of `sorted` with one instance of `own` taken out; `None` when fewer than
/// [`MIN_OTHERS`] values remain.
fn median_without(sorted: &[f64], own: f64) -> Option<f64> {
    let m = sorted.len().checked_sub(1)?;
    if m < MIN_OTHERS {
        return None;
    }
    let at = sorted.partition_point(|x| x.total_cmp(&own).is_lt());
    let nth = |i: usize| if i < at { sorted[i] } else { sorted[i + 1] };
    Some(if m % 2 == 1 {
        nth(m / 2)
    } else {
        (nth(m / 2 - 1) + nth(m / 2)) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_leaves_out_one_instance_of_the_own_value() {
        assert_eq!(median_without(&[1.0, 2.0, 3.0, 4.0], 4.0), Some(2.0));
        assert_eq!(median_without(&[1.0, 2.0, 3.0, 4.0], 1.0), Some(3.0));
        assert_eq!(median_without(&[1.0, 2.0, 2.0, 3.0, 9.0], 2.0), Some(2.5));
        assert_eq!(median_without(&[1.0, 2.0, 3.0], 2.0), None);
    }

    #[test]
    fn a_window_where_everyone_is_slower_has_a_factor_above_one_for_each() {
        // Five queries of very different latencies; in window 3 all of them take twice as long.
        let series: Vec<Vec<(u64, f64)>> = (1..=5)
            .map(|q| {
                (0..6u64)
                    .map(|w| (w * 1000, q as f64 * if w == 3 { 2.0 } else { 1.0 }))
                    .collect()
            })
            .collect();
        let factors = common_factors(&series);
        for f in &factors {
            assert!((f[3] - 2.0).abs() < 1e-9, "{f:?}");
            assert!((f[0] - 1.0).abs() < 1e-9, "{f:?}");
        }
    }

    #[test]
    fn one_query_slower_on_its_own_does_not_move_the_others_factor() {
        let series: Vec<Vec<(u64, f64)>> = (0..5)
            .map(|q| {
                (0..6u64)
                    .map(|w| (w * 1000, if q == 0 && w >= 3 { 10.0 } else { 1.0 }))
                    .collect()
            })
            .collect();
        let factors = common_factors(&series);
        assert!(factors.iter().flatten().all(|f| (f - 1.0).abs() < 1e-9));
    }

    #[test]
    fn without_enough_others_there_is_no_reference() {
        let series = vec![vec![(0, 1.0), (1000, 5.0)], vec![(0, 1.0), (1000, 5.0)]];
        assert_eq!(common_factors(&series), vec![vec![1.0, 1.0]; 2]);
    }
}
