//! Turning a detector [`Finding`] into the published [`Flag`]: the evidence (size and latency
//! series), the ranking key and a one-line explanation a DBA can act on.

use pgscope_exporters::growth::{Elasticity, Flag, Forecast, LatencyPoint, Plan, TableView};
use pgscope_exporters::model::{fingerprint_hex, WindowSeries};

use super::detector::{size_at, Class, Finding, WindowSample};
use super::estimate::Fit;
use super::sizes::TableHistory;

/// Everything a flag is made of.
#[derive(Debug)]
pub struct FlagInput<'a> {
    /// The fingerprint's series (per database).
    pub series: &'a WindowSeries,
    /// The windows the detector saw.
    pub windows: &'a [WindowSample],
    /// The size histories of its tables.
    pub histories: &'a [(&'a str, &'a TableHistory)],
    /// The verdict.
    pub finding: &'a Finding,
    /// Normalized text.
    pub query: String,
    /// Summary.
    pub summary: String,
    /// Share of all recorded time.
    pub time_share: f64,
    /// The plan on the blamed table, if explained.
    pub plan: Option<Plan>,
    /// When first flagged.
    pub first_flagged_ms: u64,
}

fn elasticity(fit: Option<Fit>) -> Option<Elasticity> {
    fit.map(|f| Elasticity {
        value: f.slope,
        low: f.low,
        high: f.high,
        points: f.points,
    })
}

/// The snake_case name of a class, as in JSON.
pub fn class_name(class: Class) -> &'static str {
    match class {
        Class::ScanGrowth => "scan_growth",
        Class::ResultGrowth => "result_growth",
        Class::SlowerWithoutGrowth => "slower_without_growth",
        Class::TailLatencyRose => "tail_latency_rose",
    }
}

/// `name value [low, high]` of a fit, or `name n/a`.
fn figure(name: &str, fit: Option<Fit>) -> String {
    fit.map_or(format!("{name} n/a"), |f| {
        format!("{name} {:.2} [{:.2}, {:.2}]", f.slope, f.low, f.high)
    })
}

/// How the plan reaches the table, e.g. `Index Scan using t_pkey`.
fn access(plan: &Plan) -> String {
    let nodes: Vec<String> = plan
        .nodes
        .iter()
        .map(|n| match &n.index {
            Some(index) => format!("{} using {index}", n.node_type),
            None => n.node_type.clone(),
        })
        .collect();
    nodes.join(", ")
}

/// The one-line explanation: it names the figures the decision was made on, and only those.
pub fn explanation(f: &Finding, plan: Option<&Plan>) -> String {
    let table = f.table.as_deref().unwrap_or("?");
    let growth = f.growth.unwrap_or(1.0);
    let floor = figure(
        "p10 latency elasticity of its size-dependent part",
        f.variable_elasticity,
    );
    let fixed = f.fixed_ms.unwrap_or(0.0);
    match f.class {
        Class::ScanGrowth => {
            let scan = match plan {
                Some(p) if p.seq_scan => format!("; the plan has a Seq Scan on {table}"),
                Some(p) if !p.nodes.is_empty() => {
                    format!("; the plan reads {table} by {}", access(p))
                }
                _ => String::new(),
            };
            format!(
                "{table} grew {growth:.1}x and even its fastest calls followed it ({floor}, above \
                 a fixed {fixed:.2} ms per call) while rows per call stayed flat: work per call \
                 scales with the table{scan}"
            )
        }
        Class::ResultGrowth => format!(
            "{table} grew {growth:.1}x and rows per call grew with it ({}; {floor}): the query \
             returns more and more rows",
            figure("rows elasticity", f.rows_elasticity)
        ),
        Class::TailLatencyRose => {
            let bounded = match plan {
                Some(p) if p.bounded_index => format!(
                    "; the plan reaches {table} only through bounded index probes ({}), so this \
                     is not scan growth",
                    access(p)
                ),
                _ => format!(" ({})", figure("p10 latency elasticity", f.p10_elasticity)),
            };
            format!(
                "{table} grew {growth:.1}x and the tail followed it ({}) but not its fastest \
                 calls{bounded}: look at contention (CPU, locks, I/O), not at the table's size",
                figure("p95 latency elasticity", f.p95_elasticity)
            )
        }
        Class::SlowerWithoutGrowth => {
            let t = f.slowdown_test;
            let (ms, p, side) = t.map_or((0.0, 1.0, 0), |t| (t.increase_ms, t.p_value, t.side));
            let (own, others) = t.map_or((1.0, 1.0), |t| (t.own_ratio, t.others_ratio));
            let floor = t.map_or(1.0, |t| t.floor_ratio);
            format!(
                "p95 is {:.1}x what it was relative to the other queries (+{ms:.1} ms; its own \
                 p95 {own:.1}x, theirs {others:.1}x over the same windows; median of the last \
                 {side} windows against the first {side}, one-sided Mann-Whitney p = {p:.4}; \
                 even its fastest tenth of calls {floor:.1}x) while its tables stayed flat: not \
                 growth, and not the server slowing every query (look at locks, cache or plan \
                 changes)",
                f.slowdown
            )
        }
    }
}

/// Builds the flag.
pub fn flag_of(input: FlagInput<'_>) -> Flag {
    let f = input.finding;
    let slope = |fit: Option<Fit>| fit.map_or(0.0, |e| e.slope.max(0.0));
    let impact = match f.class {
        Class::SlowerWithoutGrowth => input.time_share * f.slowdown.ln().max(0.0),
        Class::TailLatencyRose => input.time_share * slope(f.p95_elasticity),
        _ => input.time_share * slope(f.variable_elasticity),
    };
    let blamed = f
        .table
        .as_deref()
        .and_then(|t| input.histories.iter().find(|(n, _)| *n == t));
    let latency = input
        .windows
        .iter()
        .map(|w| LatencyPoint {
            start_ms: w.start_ms,
            calls: w.calls,
            p50_ms: w.p50_ms,
            p95_ms: w.p95_ms,
            rows_per_call: w.rows_per_call,
            table_bytes: blamed
                .and_then(|(_, h)| size_at(&h.samples, w.start_ms + w.width_ms / 2, w.width_ms))
                .map_or(0, |b| b as u64),
        })
        .collect();
    let tables = input
        .histories
        .iter()
        .map(|(name, h)| TableView {
            name: (*name).to_owned(),
            resolved: h.latest.resolved.clone(),
            seq_scans: h.latest.seq_scans,
            index_scans: h.latest.index_scans,
            sizes: h.points.iter().copied().collect(),
        })
        .collect();
    Flag {
        fingerprint: fingerprint_hex(input.series.fingerprint),
        database: input.series.database.clone(),
        query: input.query,
        summary: input.summary,
        class: class_name(f.class).to_owned(),
        explanation: explanation(f, input.plan.as_ref()),
        impact,
        time_share: input.time_share,
        table: f.table.clone(),
        growth: f.growth,
        p50_elasticity: elasticity(f.p50_elasticity),
        p10_elasticity: elasticity(f.p10_elasticity),
        fixed_cost_ms: f.fixed_ms,
        variable_elasticity: elasticity(f.variable_elasticity),
        p95_elasticity: elasticity(f.p95_elasticity),
        rows_elasticity: elasticity(f.rows_elasticity),
        slowdown: f.slowdown,
        slowdown_ms: f.slowdown_test.map(|t| t.increase_ms),
        slowdown_p_value: f.slowdown_test.map(|t| t.p_value),
        slowdown_p10: f.slowdown_test.map(|t| t.floor_ratio),
        forecast: f.forecast.map(|x| Forecast {
            p50_now_ms: x.p50_now_ms,
            p50_at_2x_ms: x.p50_at_2x_ms,
            p50_at_10x_ms: x.p50_at_10x_ms,
            p95_now_ms: x.p95_now_ms,
            p95_at_2x_ms: x.p95_at_2x_ms,
            p95_at_10x_ms: x.p95_at_10x_ms,
            seconds_to_2x: x.seconds_to_2x,
        }),
        plan: input.plan,
        tables,
        latency,
        first_flagged_ms: input.first_flagged_ms,
        rounds_below: 0,
    }
}
