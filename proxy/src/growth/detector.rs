//! The growth detector: a pure, deterministic function from one fingerprint's window series and
//! the size series of the tables it touches to a verdict.
//!
//! For each table, every window with enough calls is paired with the table's size at the
//! window's middle (interpolated between catalog samples). The elasticity of latency to size is
//! the Theil–Sen slope of `ln latency` against `ln size`: 1 means latency doubles when the table
//! doubles (work proportional to the table, a scan), 0 means size does not matter (an index
//! lookup). The same slope for `ln(1 + rows per call)` says whether the query also returns more
//! as the table grows.
//!
//! Growth is decided on each window's **p10**, its fastest tenth of calls, not on its median.
//! Contention (a busy CPU, a lock, I/O) only ever *adds* delay, to some calls and not others,
//! so the fastest calls of a window are those it delayed least: their latency is the work the
//! query does, which is what grows with a table it scans. In the scenario of benches/README.md
//! ("Detection quality": busy loops competing for two cores), the baseline windows' medians of
//! a 10k-row scan spread over 0.8–19 ms while their p10 stayed mostly within 0.6–1.5 ms, so the
//! first doubling of the table (+0.6 ms of work) stands out in the p10 and is lost in the
//! medians. A primary-key lookup's
//! p10 stays flat while its median and p95 follow the machine's load, which rises with the
//! scans of growing tables: the tail-contention false alarm of a p95 (or median) decision
//! cannot happen on the p10. This is the classic "best of N runs" of benchmarking, per window.
//!
//! Verdicts:
//! - **scan growth**: the table grew by at least `min_growth` and the calls' floor scales with
//!   it: the p10's elasticity interval is above zero, the elasticity of the size-dependent part
//!   of the p10 (latency modelled as `fixed + b·size^k`, see [`fixed_plus_power`]) is at least
//!   `elasticity` with its interval above zero, and that model says doubling the table now
//!   costs at least `min_rise_at_2x`; rows per call did not grow. The median's elasticity is
//!   reported beside it (and forecast), as evidence, not decided on;
//! - **result growth**: the same, but rows per call grew with the table too;
//! - **tail latency rose**: a table grew and p95 followed it while the p10 did not: an
//!   observation, never a degrading hot path (a busy machine does this to index lookups);
//! - **slower without growth**: no table grew by `flat_growth`, yet the late third of the
//!   windows' p95, relative to the other queries' in the same windows, is `slowdown` times and
//!   `min_slowdown_ms` above the early third's, a one-sided Mann–Whitney test of the two says
//!   so at `slowdown_alpha` (see [`slowdown`]), and the late third's p10, relative to the other
//!   queries' p10, is `slowdown` times the early third's: a regression of the query's own (a
//!   plan, a lock every call waits for, a cache it lost) slows even its fastest calls, while
//!   contention lifts the tail of a CPU-bound query and leaves its fastest calls where the
//!   others' are.
//!
//! Nothing here reads a clock or a socket; the monitor feeds it.

use serde::Serialize;

use super::estimate::{fixed_plus_power, median, theil_sen, CostFit, Fit};
use super::slowdown;

/// Thresholds of the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Windows with fewer calls are ignored.
    pub min_calls: u64,
    /// Fewest usable windows for any verdict.
    pub min_points: usize,
    /// Size ratio (last / first) a table must reach to blame growth.
    pub min_growth: f64,
    /// Fewest windows at `min_growth` times the table's smallest size for scan or result
    /// growth: one window is one look at the grown table, and a burst of contention lasting a
    /// window can lift even its fastest calls.
    pub min_grown_windows: usize,
    /// Latency elasticity at or above which growth is blamed.
    pub elasticity: f64,
    /// Rows-per-call elasticity at or above which the flag is result growth.
    pub rows_elasticity: f64,
    /// Tables that grew less than this are "flat".
    pub flat_growth: f64,
    /// Recent p95 over early p95 at or above which a flat query is "slower without growth".
    pub slowdown: f64,
    /// Least rise of the median p95 (late over early windows), ms, for "slower without growth".
    pub min_slowdown_ms: f64,
    /// Largest one-sided Mann–Whitney p-value for "slower without growth".
    pub slowdown_alpha: f64,
    /// Least ratio of the modelled p10 at twice the table's current size over the p10 now for
    /// scan or result growth: the size-dependent part must matter.
    pub min_rise_at_2x: f64,
    /// How far (ms) before the first or after the last size sample a window may lie and still
    /// take that sample's size.
    pub sample_slack_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_calls: 5,
            min_points: 5,
            min_growth: 1.5,
            min_grown_windows: 2,
            elasticity: 0.5,
            rows_elasticity: 0.5,
            flat_growth: 1.2,
            slowdown: 1.5,
            min_slowdown_ms: 1.0,
            slowdown_alpha: 0.01,
            min_rise_at_2x: 1.2,
            sample_slack_ms: 60_000,
        }
    }
}

/// One recorder window of a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSample {
    /// Window start, ms since the epoch.
    pub start_ms: u64,
    /// Window width, ms.
    pub width_ms: u64,
    /// Calls completed in the window.
    pub calls: u64,
    /// 10th percentile latency, ms: the window's fastest tenth of calls, the least delayed by
    /// contention (what growth is decided on).
    pub p10_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// How much slower than usual the other fingerprints were in the window (their common
    /// factor, see [`super::common`]; 1 as usual or without a reference).
    pub common: f64,
    /// The same for the other fingerprints' p10: how much slower than usual even their fastest
    /// calls were (a saturated CPU delays every call a little).
    pub common_p10: f64,
}

/// One catalog sample of a table's size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeSample {
    /// When it was taken, ms since the epoch.
    pub at_ms: u64,
    /// `pg_relation_size`, bytes.
    pub bytes: u64,
}

/// What the detector concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Work per call scales with the table (missing index, plan flip).
    ScanGrowth,
    /// The query returns more and more rows as the table grows.
    ResultGrowth,
    /// Latency regressed while the tables stayed flat (locks, cache, plan change).
    SlowerWithoutGrowth,
    /// A table grew and the tail followed it but the typical call did not: an observation, not
    /// a degrading hot path.
    TailLatencyRose,
}

/// A projection of the p95 at larger sizes of the blamed table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    /// Modelled median (fixed + variable) at the current size, ms.
    pub p50_now_ms: f64,
    /// Modelled median at twice the current size, ms.
    pub p50_at_2x_ms: f64,
    /// Modelled median at ten times the current size, ms.
    pub p50_at_10x_ms: f64,
    /// Fitted p95 at the current size, ms.
    pub p95_now_ms: f64,
    /// Projected p95 at twice the current size, ms.
    pub p95_at_2x_ms: f64,
    /// Projected p95 at ten times the current size, ms.
    pub p95_at_10x_ms: f64,
    /// Seconds until the table is twice its current size at its recent growth rate (over its
    /// last [`RECENT_SAMPLES`] catalog samples); `None` when it is not growing: the last sample
    /// is no larger than the one before, or the recent rate is not positive.
    pub seconds_to_2x: Option<f64>,
}

/// The detector's verdict on one fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The verdict.
    pub class: Class,
    /// The table blamed (growth classes only).
    pub table: Option<String>,
    /// That table's size ratio, last over first, over the windows used.
    pub growth: Option<f64>,
    /// Elasticity of p50 to the table's size (pure power law, no fixed cost): evidence.
    pub p50_elasticity: Option<Fit>,
    /// Elasticity of p10 to the table's size (pure power law): its interval must be above 0.
    pub p10_elasticity: Option<Fit>,
    /// Fixed per-call part of the p10, ms (p10 = fixed + b·size^k).
    pub fixed_ms: Option<f64>,
    /// Elasticity `k` of the size-dependent part of the p10: what growth is decided on.
    pub variable_elasticity: Option<Fit>,
    /// Elasticity of p95 to the table's size.
    pub p95_elasticity: Option<Fit>,
    /// Elasticity of `1 + rows per call` to the table's size.
    pub rows_elasticity: Option<Fit>,
    /// Median p95 of the last third of windows over that of the first third (for slower
    /// without growth: relative to the other queries').
    pub slowdown: f64,
    /// The comparison relative to the other queries (slower without growth only).
    pub slowdown_test: Option<slowdown::Slowdown>,
    /// Projection (growth classes only).
    pub forecast: Option<Forecast>,
    /// Windows used.
    pub windows: usize,
}

/// Catalog samples the growth rate of a forecast is read over (three sampling intervals).
pub const RECENT_SAMPLES: usize = 4;

/// One table's evidence. Latency fits exist only for tables that grew enough to be blamed: the
/// rest only need their growth (for the "flat" test), which keeps a detector run over thousands
/// of fingerprints cheap when most tables are steady.
struct TableFit<'a, 'w> {
    table: &'a str,
    growth: f64,
    p50: Option<Fit>,
    p10: Option<Fit>,
    p95: Option<Fit>,
    /// The p10's fixed + variable model.
    cost: Option<CostFit>,
    /// Each usable window with the table's size then.
    paired: Vec<(&'w WindowSample, f64)>,
    size_now: f64,
    sizes: &'a [SizeSample],
}

impl TableFit<'_, '_> {
    /// Theil–Sen of `y(window)` against `ln size`.
    fn fit(&self, y: impl Fn(&WindowSample) -> f64) -> Option<Fit> {
        let points: Vec<(f64, f64)> = self.paired.iter().map(|(w, s)| (s.ln(), y(w))).collect();
        theil_sen(&points)
    }

    /// Elasticity of `1 + rows per call` to size, computed only for the blamed table.
    fn rows(&self) -> Option<Fit> {
        self.fit(|w| w.rows_per_call.max(0.0).ln_1p())
    }

    /// Whether the calls' floor scales with this table (see the module's verdicts).
    fn floor_scales(&self, settings: &Settings) -> bool {
        let Some(cost) = self.cost else {
            return false;
        };
        let rise = cost.at(2.0 * self.size_now) / cost.at(self.size_now);
        let smallest = self
            .paired
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        let grown = self
            .paired
            .iter()
            .filter(|p| p.1 >= smallest * settings.min_growth)
            .count();
        self.growth >= settings.min_growth
            && grown >= settings.min_grown_windows
            && self.p10.is_some_and(|f| f.low > 0.0)
            && significant(&Some(cost.variable), settings.elasticity)
            && rise >= settings.min_rise_at_2x
    }

    /// The median's fixed + variable model, for the forecast.
    fn median_cost(&self) -> Option<CostFit> {
        let points: Vec<(f64, f64)> = self
            .paired
            .iter()
            .map(|(w, s)| (*s, w.p50_ms.max(1e-3)))
            .collect();
        fixed_plus_power(&points)
    }

    /// The elasticity the blame is decided on.
    fn variable(&self) -> f64 {
        self.cost.map_or(0.0, |c| c.variable.slope)
    }
}

/// The size of a table at `at_ms`, interpolated linearly between samples (sorted by time);
/// `None` outside the samples' span plus `slack_ms`.
pub fn size_at(samples: &[SizeSample], at_ms: u64, slack_ms: u64) -> Option<f64> {
    let first = samples.first()?;
    let last = samples.last()?;
    if at_ms.saturating_add(slack_ms) < first.at_ms || at_ms > last.at_ms.saturating_add(slack_ms) {
        return None;
    }
    if at_ms <= first.at_ms {
        return Some(first.bytes as f64);
    }
    if at_ms >= last.at_ms {
        return Some(last.bytes as f64);
    }
    let i = samples.partition_point(|s| s.at_ms <= at_ms);
    let (a, b) = (samples[i - 1], samples[i]);
    let t = (at_ms - a.at_ms) as f64 / (b.at_ms - a.at_ms).max(1) as f64;
    Some(a.bytes as f64 + t * (b.bytes as f64 - a.bytes as f64))
}

/// Whether a fit shows latency rising with size at or above `threshold`, significantly.
fn significant(fit: &Option<Fit>, threshold: f64) -> bool {
    fit.is_some_and(|f| f.slope >= threshold && f.low > 0.0)
}

/// Each of `windows` with the table's size at its middle, when known; `None` with fewer than
/// `min_points` of them.
fn paired<'w>(
    settings: &Settings,
    windows: &[&'w WindowSample],
    sizes: &[SizeSample],
) -> Option<Vec<(&'w WindowSample, f64)>> {
    let paired: Vec<(&WindowSample, f64)> = windows
        .iter()
        .filter_map(|w| {
            let mid = w.start_ms + w.width_ms / 2;
            size_at(sizes, mid, settings.sample_slack_ms)
                .filter(|s| *s > 0.0)
                .map(|s| (*w, s))
        })
        .collect();
    (paired.len() >= settings.min_points).then_some(paired)
}

/// The windows the detector uses: enough calls and a finite p95.
fn usable<'w>(settings: &Settings, windows: &'w [WindowSample]) -> Vec<&'w WindowSample> {
    windows
        .iter()
        .filter(|w| w.calls >= settings.min_calls && w.p95_ms.is_finite())
        .collect()
}

/// Whether the verdict on these windows can only be "slower without growth" or nothing: every
/// table with enough sized windows stayed within `flat_growth` (no fits: cheap). What the
/// monitor re-assesses once the other queries' common factor is known.
pub fn tables_flat(
    settings: &Settings,
    windows: &[WindowSample],
    tables: &[(&str, &[SizeSample])],
) -> bool {
    let used = usable(settings, windows);
    tables.iter().all(|(_, sizes)| {
        paired(settings, &used, sizes).is_none_or(|p| match (p.first(), p.last()) {
            (Some(first), Some(last)) => last.1 / first.1 < settings.flat_growth,
            _ => true,
        })
    })
}

fn fit_table<'a, 'w>(
    settings: &Settings,
    windows: &[&'w WindowSample],
    table: &'a str,
    sizes: &'a [SizeSample],
) -> Option<TableFit<'a, 'w>> {
    let paired = paired(settings, windows, sizes)?;
    let growth = paired.last()?.1 / paired.first()?.1;
    let mut fit = TableFit {
        table,
        growth,
        p50: None,
        p10: None,
        p95: None,
        cost: None,
        size_now: paired.last()?.1,
        paired,
        sizes,
    };
    if growth >= settings.min_growth {
        fit.p10 = fit.fit(|w| w.p10_ms.max(1e-3).ln());
        fit.p50 = fit.fit(|w| w.p50_ms.max(1e-3).ln());
        fit.p95 = fit.fit(|w| w.p95_ms.max(1e-3).ln());
        if fit.p10.is_some_and(|f| f.low > 0.0) {
            let points: Vec<(f64, f64)> = fit
                .paired
                .iter()
                .map(|(w, s)| (*s, w.p10_ms.max(1e-3)))
                .collect();
            fit.cost = fixed_plus_power(&points);
        }
    }
    Some(fit)
}

/// Median p95 of the last third of `windows` over that of the first third.
fn slowdown_ratio(windows: &[&WindowSample]) -> f64 {
    let third = (windows.len() / 3).max(1);
    let mut early: Vec<f64> = windows[..third].iter().map(|w| w.p95_ms).collect();
    let mut late: Vec<f64> = windows[windows.len() - third..]
        .iter()
        .map(|w| w.p95_ms)
        .collect();
    match (median(&mut early), median(&mut late)) {
        (Some(e), Some(l)) if e > 0.0 => l / e,
        _ => 1.0,
    }
}

/// Seconds until `sizes` doubles at its recent rate; `None` when it is not growing now.
pub fn seconds_to_double(sizes: &[SizeSample]) -> Option<f64> {
    let recent = &sizes[sizes.len().saturating_sub(RECENT_SAMPLES)..];
    let [.., before, last] = recent else {
        return None;
    };
    if last.bytes <= before.bytes {
        return None;
    }
    let rate: Vec<(f64, f64)> = recent
        .iter()
        .filter(|s| s.bytes > 0)
        .map(|s| (s.at_ms as f64 / 1000.0, (s.bytes as f64).ln()))
        .collect();
    let per_second = theil_sen(&rate)?.slope;
    (per_second > 0.0).then(|| std::f64::consts::LN_2 / per_second)
}

fn forecast(t: &TableFit<'_, '_>) -> Option<Forecast> {
    let cost = t.median_cost()?;
    let fit = t.p95.or(t.p50)?;
    let ln_now = t.size_now.ln();
    let p95 = |factor: f64| fit.at(ln_now + factor.ln()).exp();
    let p50 = |factor: f64| cost.at(t.size_now * factor);
    Some(Forecast {
        p50_now_ms: p50(1.0),
        p50_at_2x_ms: p50(2.0),
        p50_at_10x_ms: p50(10.0),
        p95_now_ms: p95(1.0),
        p95_at_2x_ms: p95(2.0),
        p95_at_10x_ms: p95(10.0),
        seconds_to_2x: seconds_to_double(t.sizes),
    })
}

/// A finding on table `t` of class `class`.
fn table_finding(
    class: Class,
    t: &TableFit<'_, '_>,
    rows: Option<Fit>,
    slow: f64,
    windows: usize,
) -> Finding {
    Finding {
        class,
        table: Some(t.table.to_owned()),
        growth: Some(t.growth),
        p50_elasticity: t.p50,
        p10_elasticity: t.p10,
        fixed_ms: t.cost.map(|c| c.fixed),
        variable_elasticity: t.cost.map(|c| c.variable),
        p95_elasticity: t.p95,
        rows_elasticity: rows,
        slowdown: slow,
        slowdown_test: None,
        forecast: (class != Class::TailLatencyRose)
            .then(|| forecast(t))
            .flatten(),
        windows,
    }
}

/// The verdict on one fingerprint: `windows` oldest first, `tables` each with its size samples
/// oldest first. `None` when nothing is wrong or the evidence is too thin.
pub fn assess(
    settings: &Settings,
    windows: &[WindowSample],
    tables: &[(&str, &[SizeSample])],
) -> Option<Finding> {
    let used = usable(settings, windows);
    if used.len() < settings.min_points {
        return None;
    }
    let fits: Vec<TableFit<'_, '_>> = tables
        .iter()
        .filter_map(|(table, sizes)| fit_table(settings, &used, table, sizes))
        .collect();
    let slow = slowdown_ratio(&used);
    let blamed = fits
        .iter()
        .filter(|t| t.floor_scales(settings))
        .max_by(|a, b| a.variable().total_cmp(&b.variable()));
    if let Some(t) = blamed {
        let rows = t.rows();
        let class = if significant(&rows, settings.rows_elasticity) {
            Class::ResultGrowth
        } else {
            Class::ScanGrowth
        };
        return Some(table_finding(class, t, rows, slow, used.len()));
    }
    let tail = fits
        .iter()
        .filter(|t| t.growth >= settings.min_growth && significant(&t.p95, settings.elasticity))
        .max_by(|a, b| {
            let e = |t: &TableFit<'_, '_>| t.p95.map_or(0.0, |f| f.slope);
            e(a).total_cmp(&e(b))
        });
    if let Some(t) = tail {
        return Some(table_finding(
            Class::TailLatencyRose,
            t,
            None,
            slow,
            used.len(),
        ));
    }
    if !fits.iter().all(|t| t.growth < settings.flat_growth) {
        return None;
    }
    let loaded: Vec<slowdown::LoadedWindow> = used
        .iter()
        .map(|w| slowdown::LoadedWindow {
            p10_ms: w.p10_ms,
            p95_ms: w.p95_ms,
            common: w.common,
            common_p10: w.common_p10,
        })
        .collect();
    let test = slowdown::compare(&loaded)?;
    let slower = test.ratio >= settings.slowdown
        && test.increase_ms >= settings.min_slowdown_ms
        && test.p_value <= settings.slowdown_alpha
        && test.floor_ratio >= settings.slowdown;
    slower.then_some(Finding {
        class: Class::SlowerWithoutGrowth,
        table: None,
        growth: None,
        p50_elasticity: None,
        p10_elasticity: None,
        fixed_ms: None,
        variable_elasticity: None,
        p95_elasticity: None,
        rows_elasticity: None,
        slowdown: test.ratio,
        slowdown_test: Some(test),
        forecast: None,
        windows: used.len(),
    })
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;
