//! Robust slope estimation: the Theil–Sen estimator with Sen's distribution-free confidence
//! interval.
//!
//! The slope is the median of the slopes of every pair of points, so up to ~29% of the points
//! can be arbitrarily wrong (a GC pause, a cold cache, a lock) without moving it. The interval
//! comes from Kendall's tau's normal approximation (Sen, 1968): of the `N` pairwise slopes (pairs
//! with distinct `x`), the ones ranked `(N ∓ C)/2` bound the slope at ~95%, with
//! `C = 1.96·sqrt(Var S)` and `Var S = (n(n-1)(2n+5) - Σ t(t-1)(2t+5))/18`, the sum over groups
//! of `t` points with equal `x`.

/// A fitted line `y = intercept + slope·x` with its 95% interval for the slope.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Fit {
    /// Median pairwise slope.
    pub slope: f64,
    /// Median of `y - slope·x`.
    pub intercept: f64,
    /// Lower bound of the slope's ~95% interval.
    pub low: f64,
    /// Upper bound of the slope's ~95% interval.
    pub high: f64,
    /// Points the fit used.
    pub points: usize,
}

impl Fit {
    /// The fitted `y` at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// The median of `values` (reordered in place, by selection rather than a full sort); `None`
/// when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    Some(order_stats(values, 0, 0)?.median)
}

/// The median and the values of ranks `low <= n/2 <= high` of `values`, found by three
/// O(n) selections (the detector fits thousands of series of ~1,800 slopes per run, where a full
/// sort was most of its time).
struct OrderStats {
    median: f64,
    low: f64,
    high: f64,
}

fn order_stats(values: &mut [f64], low: usize, high: usize) -> Option<OrderStats> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (left, &mut m, right) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let median = match left.iter().copied().max_by(f64::total_cmp) {
        Some(below) if n % 2 == 0 => (below + m) / 2.0,
        _ => m,
    };
    let low = match low.min(mid) {
        r if r == mid => m,
        r => *left.select_nth_unstable_by(r, f64::total_cmp).1,
    };
    let high = match high.clamp(mid, n - 1) {
        r if r == mid => m,
        r => *right.select_nth_unstable_by(r - mid - 1, f64::total_cmp).1,
    };
    Some(OrderStats { median, low, high })
}

/// Theil–Sen fit of `points` (`(x, y)`, non-finite ones ignored). `None` with fewer than two
/// distinct `x` values, where no slope exists.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Fit> {
    let points: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, &(x1, y1)) in points.iter().enumerate() {
        for &(x2, y2) in &points[i + 1..] {
            let dx = x2 - x1;
            if dx.abs() > f64::EPSILON * x1.abs().max(x2.abs()).max(1.0) {
                slopes.push((y2 - y1) / dx);
            }
        }
    }
    let total = slopes.len();
    let c = 1.96 * kendall_variance(&points).sqrt();
    let rank = |r: f64| -> usize { (r.round().max(0.0) as usize).min(total.saturating_sub(1)) };
    let OrderStats {
        median: slope,
        low,
        high,
    } = order_stats(
        &mut slopes,
        rank((total as f64 - c) / 2.0),
        rank((total as f64 + c) / 2.0),
    )?;
    let mut residuals: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut residuals)?;
    Some(Fit {
        slope,
        intercept,
        low,
        high,
        points: points.len(),
    })
}

/// The variance of Kendall's `S` over `points` under "no trend", with Sen's correction for
/// ties in `x`: `(n(n-1)(2n+5) - Σ t(t-1)(2t+5)) / 18` over the groups of `t` equal `x`. Pairs
/// with equal `x` give no slope, so without the correction the interval would be as wide as
/// if they did: the recorder's windows between two catalog samples, or before a table starts
/// growing, share one size.
fn kendall_variance(points: &[(f64, f64)]) -> f64 {
    let term = |t: f64| t * (t - 1.0) * (2.0 * t + 5.0);
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let ties: f64 = xs
        .chunk_by(|a, b| a == b)
        .map(|group| term(group.len() as f64))
        .sum();
    ((term(xs.len() as f64) - ties) / 18.0).max(0.0)
}

/// Latency modelled as a fixed per-call cost plus a part that grows as a power of size,
/// `latency = fixed + b · size^k` (the empirical-complexity shape).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostFit {
    /// The per-call cost that does not depend on size, ms.
    pub fixed: f64,
    /// Theil–Sen fit of `ln(latency − fixed)` against `ln size`: its slope is `k`, the
    /// elasticity of the size-dependent part, with its interval; its intercept is `ln b`.
    pub variable: Fit,
}

impl CostFit {
    /// The modelled latency at `size`.
    pub fn at(&self, size: f64) -> f64 {
        self.fixed + self.variable.at(size.ln()).exp()
    }
}

/// Largest share of the smallest-size latency the fixed cost may take: the rest is left to the
/// size-dependent part, so noise on a flat series is never divided by a vanishing remainder.
const MAX_FIXED_SHARE: f64 = 0.9;

/// Fits `latency = fixed + b · size^k` to `points` (`(size, latency)`, both > 0, oldest or
/// smallest first does not matter). The fixed cost is the intercept at size 0 of the robust
/// (Theil–Sen) straight line of latency against size, clamped to `[0, 90%]` of the median
/// latency of the smallest third of the sizes; `k` is then the Theil–Sen slope of
/// `ln(latency − fixed)` against `ln size`. A line overstates the fixed cost of a concave
/// series (so `k` reads high there), which is why a decision on `k` also needs the latency to
/// rise materially. `None` without two distinct sizes.
pub fn fixed_plus_power(points: &[(f64, f64)]) -> Option<CostFit> {
    let points: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(s, y)| s.is_finite() && y.is_finite() && *s > 0.0 && *y > 0.0)
        .collect();
    let mut by_size = points.clone();
    by_size.sort_by(|a, b| a.0.total_cmp(&b.0));
    let smallest = (by_size.len() / 3).max(1);
    let mut low: Vec<f64> = by_size.iter().take(smallest).map(|p| p.1).collect();
    let base = median(&mut low)?;
    let scale = by_size.first()?.0;
    let linear: Vec<(f64, f64)> = points.iter().map(|(s, y)| (s / scale, *y)).collect();
    let line = theil_sen(&linear)?;
    let fixed = line.intercept.clamp(0.0, MAX_FIXED_SHARE * base);
    // Windows below the fixed cost (noise) keep a small positive remainder rather than none.
    let floor = ((base - fixed) * 0.05).max(1e-6);
    let logs: Vec<(f64, f64)> = points
        .iter()
        .map(|(s, y)| (s.ln(), (y - fixed).max(floor).ln()))
        .collect();
    Some(CostFit {
        fixed,
        variable: theil_sen(&logs)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_is_recovered_with_a_tight_interval() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        let fit = theil_sen(&points).unwrap();
        assert_eq!(fit.slope, 2.0);
        assert_eq!(fit.intercept, 3.0);
        assert_eq!((fit.low, fit.high), (2.0, 2.0));
        assert_eq!(fit.at(20.0), 43.0);
    }

    #[test]
    fn outliers_do_not_move_the_slope() {
        let mut points: Vec<(f64, f64)> = (0..12).map(|i| (i as f64, i as f64)).collect();
        points[3].1 = 500.0;
        points[8].1 = -400.0;
        let fit = theil_sen(&points).unwrap();
        assert!((fit.slope - 1.0).abs() < 0.05, "{fit:?}");
    }

    #[test]
    fn noise_widens_the_interval_around_the_true_slope() {
        // Deterministic pseudo-noise in [-0.5, 0.5).
        let noise = |i: u64| ((i.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0) - 0.5;
        let points: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64, 0.5 * i as f64 + 2.0 * noise(i)))
            .collect();
        let fit = theil_sen(&points).unwrap();
        assert!(fit.low < fit.slope && fit.slope < fit.high, "{fit:?}");
        assert!(fit.low < 0.5 && 0.5 < fit.high, "{fit:?}");
        assert!((fit.slope - 0.5).abs() < 0.15, "{fit:?}");
    }

    #[test]
    fn ties_in_x_narrow_the_interval_to_the_pairs_that_have_a_slope() {
        // Four windows at one size, three at twice it: the variance counts only the 12 pairs
        // across the two sizes (Sen's correction), not all 21.
        let points: Vec<(f64, f64)> = (0..7)
            .map(|i| if i < 4 { (1.0, 1.0) } else { (2.0, 2.0) })
            .collect();
        let untied = 7.0 * 6.0 * 19.0 / 18.0;
        let tied = (7.0 * 6.0 * 19.0 - 4.0 * 3.0 * 13.0 - 3.0 * 2.0 * 11.0) / 18.0;
        assert!((kendall_variance(&points) - tied).abs() < 1e-9);
        assert!(tied < untied);
        let distinct: Vec<(f64, f64)> = (0..7).map(|i| (i as f64, i as f64)).collect();
        assert!((kendall_variance(&distinct) - untied).abs() < 1e-9);
    }

    #[test]
    fn no_slope_without_two_distinct_x() {
        assert_eq!(theil_sen(&[]), None);
        assert_eq!(theil_sen(&[(1.0, 2.0)]), None);
        assert_eq!(theil_sen(&[(1.0, 2.0), (1.0, 5.0), (1.0, f64::NAN)]), None);
    }

    #[test]
    fn order_statistics_match_a_full_sort() {
        for n in 1..40usize {
            let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for (low, high) in [(0, n - 1), (n / 4, n - n / 4 - 1), (n / 2, n / 2)] {
                let mut v = values.clone();
                let stats = order_stats(&mut v, low, high).unwrap();
                let median = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
                };
                assert_eq!(stats.median, median, "n={n}");
                assert_eq!(stats.low, sorted[low.min(n / 2)], "n={n} low={low}");
                assert_eq!(stats.high, sorted[high.max(n / 2)], "n={n} high={high}");
            }
        }
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn fixed_cost_is_separated_from_a_linear_scan() {
        // 0.7 ms per call plus 0.3 ms per 10k rows: 1.0 ms at 10k, 1.3 ms at 20k.
        let points: Vec<(f64, f64)> = (0..12)
            .map(|i| {
                let size = 10_000.0 * (1.0 + i as f64 / 11.0);
                (size, 0.7 + 0.3 * size / 10_000.0)
            })
            .collect();
        let raw = theil_sen(
            &points
                .iter()
                .map(|(s, y)| (s.ln(), y.ln()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(raw.slope < 0.5, "a pure power law reads {raw:?}");
        let fit = fixed_plus_power(&points).unwrap();
        assert!((fit.fixed - 0.7).abs() < 1e-6, "{fit:?}");
        assert!((fit.variable.slope - 1.0).abs() < 1e-6, "{fit:?}");
        assert!((fit.at(40_000.0) - 1.9).abs() < 1e-6, "{fit:?}");
    }

    #[test]
    fn a_pure_power_law_has_no_fixed_cost() {
        let points: Vec<(f64, f64)> = (1..15)
            .map(|i| (1e5 * i as f64, 2e-10 * (1e5 * i as f64).powi(2)))
            .collect();
        let fit = fixed_plus_power(&points).unwrap();
        assert_eq!(fit.fixed, 0.0);
        assert!((fit.variable.slope - 2.0).abs() < 1e-6, "{fit:?}");
    }

    #[test]
    fn the_fixed_cost_never_takes_all_of_a_flat_series() {
        let points: Vec<(f64, f64)> = (1..15).map(|i| (1e4 * i as f64, 50.0)).collect();
        let fit = fixed_plus_power(&points).unwrap();
        assert!(fit.fixed <= 45.0 + 1e-9, "{fit:?}");
        assert!(fit.variable.slope.abs() < 1e-9, "{fit:?}");
        assert_eq!(fixed_plus_power(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }
}
