//! The evidence for "slower without growth": the early and the late windows of a fingerprint
//! compared, *relative to the other queries in the same windows*, with a one-sided Mann–Whitney
//! U (Wilcoxon rank-sum) test.
//!
//! Each window's p95 is divided by the other queries' common factor in it (see
//! [`super::common`]: how much slower than usual the other fingerprints were there), so what is
//! compared is this query's latency against the server's state at the time. A busy server — the
//! scans of growing tables taking the CPU, a batch job pgscope does not even see — slows every
//! query at once and moves the factor with them; a lock, a plan or a cache miss of this query's
//! own does not. A slowdown the other queries share is the server's, which the overall latency
//! alerts show (deploy/prometheus), not this query's hot path degrading.
//!
//! The first third and the last third of the windows are two samples of relative p95. Under
//! "nothing changed" every ordering of the pooled values is equally likely, so the chance that
//! the late windows beat the early ones in at least `U` of the `m·n` pairs is exact and
//! distribution-free: noise of any shape and size, as long as it is the same before and after,
//! passes at rate `alpha`. With fewer than [`MIN_SIDE`] windows a side the smallest p-value the
//! test can give is too large to mean anything, so there is no verdict at all.

use super::estimate::median;

/// Fewest windows each side: with 5 against 5 the smallest one-sided p-value is 1/252.
pub const MIN_SIDE: usize = 5;
/// Up to this many windows a side the U distribution is counted exactly; above, the normal
/// approximation (with continuity correction) is within a fraction of a percent.
const EXACT_UP_TO: usize = 12;

/// Early against late windows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Slowdown {
    /// Median relative p95 of the late windows over that of the early ones.
    pub ratio: f64,
    /// Median relative p95 of the late windows minus that of the early ones, ms (at the
    /// others' usual latency).
    pub increase_ms: f64,
    /// One-sided Mann–Whitney p-value of "late windows are slower", on relative p95.
    pub p_value: f64,
    /// Windows each side.
    pub side: usize,
    /// Median p95 of the late windows over that of the early ones, not relative.
    pub own_ratio: f64,
    /// The others' median common factor in the late windows over that in the early ones.
    pub others_ratio: f64,
    /// Median p10 of the late windows over that of the early ones, each window's relative to
    /// the others' p10 there: whether even the fastest calls slowed, more than the others'
    /// (contention lifts a query's tail, and on a saturated CPU everyone's fastest calls a
    /// little; a regression of its own lifts every call of its own).
    pub floor_ratio: f64,
}

/// One window as the test sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadedWindow {
    /// The fingerprint's p10 in the window, ms.
    pub p10_ms: f64,
    /// The fingerprint's p95 in the window, ms.
    pub p95_ms: f64,
    /// The other queries' common factor in the window (1: as usual for them).
    pub common: f64,
    /// The other queries' common factor of their p10 in the window.
    pub common_p10: f64,
}

fn median_of(windows: &[LoadedWindow], value: impl Fn(&LoadedWindow) -> f64) -> Option<f64> {
    median(&mut windows.iter().map(value).collect::<Vec<_>>())
}

/// Compares the first and the last third of `windows` (oldest first), relative to the others;
/// `None` with fewer than [`MIN_SIDE`] windows a side.
pub fn compare(windows: &[LoadedWindow]) -> Option<Slowdown> {
    let side = windows.len() / 3;
    if side < MIN_SIDE {
        return None;
    }
    let early = &windows[..side];
    let late = &windows[windows.len() - side..];
    let relative = |w: &LoadedWindow| w.p95_ms / w.common.max(1e-9);
    let mut u = 0.0;
    for l in late {
        for e in early {
            u += match relative(l).total_cmp(&relative(e)) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 1.0 };
    let (e, l) = (median_of(early, relative)?, median_of(late, relative)?);
    Some(Slowdown {
        ratio: ratio(e, l),
        increase_ms: l - e,
        p_value: p_at_least(u, side, side),
        side,
        own_ratio: ratio(
            median_of(early, |w| w.p95_ms)?,
            median_of(late, |w| w.p95_ms)?,
        ),
        others_ratio: ratio(
            median_of(early, |w| w.common)?,
            median_of(late, |w| w.common)?,
        ),
        floor_ratio: ratio(
            median_of(early, |w| w.p10_ms / w.common_p10.max(1e-9))?,
            median_of(late, |w| w.p10_ms / w.common_p10.max(1e-9))?,
        ),
    })
}

/// `P(U ≥ u)` for samples of `m` and `n` values with no difference between them.
fn p_at_least(u: f64, m: usize, n: usize) -> f64 {
    if m <= EXACT_UP_TO && n <= EXACT_UP_TO {
        // Ties count a half: rounding down keeps the test conservative.
        let at_least = u.floor() as usize;
        let counts = u_counts(m, n);
        let total: f64 = counts.iter().sum();
        return counts.iter().skip(at_least).sum::<f64>() / total;
    }
    let (m, n) = (m as f64, n as f64);
    let mean = m * n / 2.0;
    let sd = (m * n * (m + n + 1.0) / 12.0).sqrt();
    1.0 - normal_cdf((u - 0.5 - mean) / sd)
}

/// How many orderings of `m` late and `n` early values give each `U` (`0..=m·n`): the largest
/// value is either late (beating all `n` early ones) or early.
fn u_counts(m: usize, n: usize) -> Vec<f64> {
    // table[j][i] = counts for i late and j early values.
    let mut table: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); m + 1]; n + 1];
    for j in 0..=n {
        for i in 0..=m {
            table[j][i] = if i == 0 || j == 0 {
                let mut v = vec![0.0; i * j + 1];
                v[0] = 1.0;
                v
            } else {
                let mut v = vec![0.0; i * j + 1];
                for (u, c) in table[j][i - 1].iter().enumerate() {
                    v[u + j] += c;
                }
                for (u, c) in table[j - 1][i].iter().enumerate() {
                    v[u] += c;
                }
                v
            };
        }
    }
    std::mem::take(&mut table[n][m])
}

/// The standard normal distribution function (Abramowitz–Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts_give_the_textbook_extremes() {
        // 5 against 5: all late above all early happens in 1 of C(10, 5) = 252 orderings.
        assert!((p_at_least(25.0, 5, 5) - 1.0 / 252.0).abs() < 1e-12);
        assert_eq!(p_at_least(0.0, 5, 5), 1.0);
        let counts = u_counts(3, 2);
        assert_eq!(counts, vec![1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn the_normal_approximation_agrees_with_exact_counts_near_the_edge() {
        let exact = p_at_least(100.0, 12, 12);
        let (m, n) = (12.0f64, 12.0f64);
        let approx =
            1.0 - normal_cdf((100.0 - 0.5 - m * n / 2.0) / (m * n * (m + n + 1.0) / 12.0).sqrt());
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    /// Windows of `p95` values with the others as usual.
    fn alone(p95: &[f64]) -> Vec<LoadedWindow> {
        p95.iter()
            .map(|&p95_ms| LoadedWindow {
                p10_ms: p95_ms / 3.0,
                p95_ms,
                common: 1.0,
                common_p10: 1.0,
            })
            .collect()
    }

    #[test]
    fn one_window_each_side_is_no_evidence() {
        assert_eq!(compare(&alone(&[1.4, 1.5, 3.4])), None);
        assert_eq!(compare(&alone(&[1.0; 14])), None);
    }

    #[test]
    fn a_sustained_rise_passes_and_noise_of_the_same_size_does_not() {
        let rise: Vec<f64> = (0..15).map(|i| if i < 5 { 1.4 } else { 3.4 }).collect();
        let s = compare(&alone(&rise)).unwrap();
        assert!(s.p_value < 0.01, "{s:?}");
        assert!((s.ratio - 3.4 / 1.4).abs() < 1e-9);
        assert!((s.increase_ms - 2.0).abs() < 1e-9);
        // The same two levels, interleaved: as large a spread, no trend.
        let noise: Vec<f64> = (0..15)
            .map(|i| if i % 2 == 0 { 1.4 } else { 3.4 })
            .collect();
        assert!(compare(&alone(&noise)).unwrap().p_value > 0.2);
    }

    #[test]
    fn the_false_alarm_rate_on_pure_noise_is_at_most_alpha() {
        // Deterministic pseudo-random series with no trend: the test may pass at most ~1%.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1.0 + (state % 10_000) as f64 / 2_000.0
        };
        let trials = 2000;
        let alarms = (0..trials)
            .filter(|_| {
                let series: Vec<f64> = (0..15).map(|_| next()).collect();
                compare(&alone(&series)).unwrap().p_value <= 0.01
            })
            .count();
        assert!(alarms <= trials / 50, "{alarms} of {trials}");
    }

    #[test]
    fn a_rise_every_other_query_shares_is_the_servers_not_this_querys() {
        // The server gets busier over the first 20 windows and every query's p95 follows: this
        // one 1 -> 3x, the others' common factor too.
        let windows: Vec<LoadedWindow> = (0..30)
            .map(|i| {
                let busy = 1.0 + 2.0 * (i.min(20) as f64 / 20.0);
                LoadedWindow {
                    p10_ms: 1.0,
                    p95_ms: 4.0 * busy * (1.0 + 0.05 * ((i * 7 % 5) as f64 - 2.0)),
                    common: busy * (1.0 + 0.05 * ((i * 3 % 4) as f64 - 1.5)),
                    common_p10: 1.0,
                }
            })
            .collect();
        let s = compare(&windows).unwrap();
        assert!(s.own_ratio > 2.0, "{s:?}");
        assert!(s.others_ratio > 2.0, "{s:?}");
        assert!(s.ratio < 1.2, "{s:?}");
        assert!(s.p_value > 0.01, "{s:?}");
    }

    #[test]
    fn a_slowdown_of_its_own_passes_while_the_others_are_as_usual() {
        let windows: Vec<LoadedWindow> = (0..30)
            .map(|i| LoadedWindow {
                p10_ms: if i < 20 { 1.0 } else { 11.0 },
                p95_ms: if i < 20 { 5.0 } else { 15.0 } + (i % 3) as f64 * 0.1,
                common: 1.0 + (i % 4) as f64 * 0.05,
                common_p10: 1.0,
            })
            .collect();
        let s = compare(&windows).unwrap();
        assert!(s.ratio > 2.5 && s.p_value < 0.001, "{s:?}");
        assert!((s.others_ratio - 1.0).abs() < 0.1, "{s:?}");
        assert!((s.floor_ratio - 11.0).abs() < 1e-9, "{s:?}");
    }
}
