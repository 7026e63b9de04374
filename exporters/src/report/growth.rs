//! The "Degrading hot paths" section, first in every report format: the growth detector's
//! flags, most impact first, each with what happened, the evidence and what to expect next.
//! This module holds the text form and the lines every form shares; the HTML form, where
//! each flag gets a latency-vs-size chart, is [`super::growth_html`].

use std::fmt::Write;

use super::fmt_ms;
use crate::growth::{Flag, GrowthReport};

pub(super) fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// The figures line of a flag: elasticity, growth, forecast.
pub(super) fn figures(flag: &Flag) -> String {
    let mut parts = Vec::new();
    if let Some(e) = flag.variable_elasticity {
        parts.push(format!(
            "p10 elasticity of the size-dependent part {:.2} [{:.2}, {:.2}] above {} ms fixed",
            e.value,
            e.low,
            e.high,
            fmt_ms(flag.fixed_cost_ms.unwrap_or(0.0))
        ));
    }
    if let Some(e) = flag.p10_elasticity {
        parts.push(format!(
            "p10 elasticity {:.2} [{:.2}, {:.2}]",
            e.value, e.low, e.high
        ));
    }
    if let Some(e) = flag.p50_elasticity {
        parts.push(format!(
            "p50 elasticity {:.2} [{:.2}, {:.2}]",
            e.value, e.low, e.high
        ));
    }
    if let Some(e) = flag.p95_elasticity {
        parts.push(format!(
            "p95 elasticity {:.2} [{:.2}, {:.2}]",
            e.value, e.low, e.high
        ));
    }
    if let Some(e) = flag.rows_elasticity {
        parts.push(format!("rows elasticity {:.2}", e.value));
    }
    if let (Some(table), Some(growth)) = (&flag.table, flag.growth) {
        parts.push(format!("{table} grew {growth:.1}x"));
    }
    if flag.class == "slower_without_growth" {
        parts.push(format!("p95 {:.1}x slower", flag.slowdown));
        if let (Some(ms), Some(p)) = (flag.slowdown_ms, flag.slowdown_p_value) {
            parts.push(format!("+{} ms, Mann-Whitney p {p:.4}", fmt_ms(ms)));
        }
        if let Some(floor) = flag.slowdown_p10 {
            parts.push(format!("p10 {floor:.1}x"));
        }
    }
    if flag.rounds_below > 0 {
        parts.push(format!("below thresholds for {} rounds", flag.rounds_below));
    }
    parts.push(format!("{:.1}% of time", flag.time_share * 100.0));
    parts.join(", ")
}

pub(super) fn forecast(flag: &Flag) -> Option<String> {
    let f = flag.forecast?;
    let when = f.seconds_to_2x.map_or("not growing now".to_owned(), |s| {
        format!("2x in {}", duration(s))
    });
    Some(format!(
        "median now {} ms; at 2x size {} ms, at 10x {} ms; p95 now {} ms; at 2x size {} ms, \
         at 10x {} ms ({when})",
        fmt_ms(f.p50_now_ms),
        fmt_ms(f.p50_at_2x_ms),
        fmt_ms(f.p50_at_10x_ms),
        fmt_ms(f.p95_now_ms),
        fmt_ms(f.p95_at_2x_ms),
        fmt_ms(f.p95_at_10x_ms)
    ))
}

pub(super) fn plan_line(flag: &Flag) -> Option<String> {
    let plan = flag.plan.as_ref()?;
    if let Some(error) = &plan.error {
        return Some(format!("plan: unavailable ({error})"));
    }
    let nodes: Vec<String> = plan
        .nodes
        .iter()
        .map(|n| {
            let mut s = format!("{} on {}", n.node_type, n.relation);
            if let Some(index) = &n.index {
                let _ = write!(s, " using {index}");
            }
            if let Some(filter) = &n.filter {
                let _ = write!(s, " filter {filter}");
            }
            let _ = write!(s, " (est. {:.0} rows)", n.estimated_rows);
            s
        })
        .collect();
    Some(format!("plan: {}", nodes.join("; ")))
}

/// Writes the section as text.
pub fn text(out: &mut String, growth: &GrowthReport) -> std::fmt::Result {
    writeln!(out, "# Degrading hot paths")?;
    if !growth.enabled {
        writeln!(out, "#   growth monitoring is off")?;
    } else if growth.flags.is_empty() {
        writeln!(out, "#   none flagged ({} sampling rounds)", growth.rounds)?;
    }
    for d in growth.databases.iter().filter(|d| !d.ok) {
        writeln!(
            out,
            "#   ! database {}: {}",
            d.database,
            d.error.as_deref().unwrap_or("not sampled")
        )?;
    }
    for (i, flag) in growth.flags.iter().enumerate() {
        writeln!(
            out,
            "# {:>2}. [{}] {} {} ({})",
            i + 1,
            flag.class,
            flag.fingerprint,
            flag.summary,
            flag.database
        )?;
        writeln!(out, "#     {}", flag.explanation)?;
        writeln!(out, "#     {}", figures(flag))?;
        for line in [forecast(flag), plan_line(flag)].into_iter().flatten() {
            writeln!(out, "#     {line}")?;
        }
        writeln!(out, "#     {}", flag.query)?;
    }
    for o in &growth.observations {
        writeln!(
            out,
            "#   observation [{}] {} {} ({}): {}",
            o.class, o.fingerprint, o.summary, o.database, o.explanation
        )?;
    }
    for c in &growth.cleared {
        writeln!(
            out,
            "#   cleared [{}] {} {} ({}), flagged for {}",
            c.class,
            c.fingerprint,
            c.summary,
            c.database,
            duration(c.last_flagged_ms.saturating_sub(c.first_flagged_ms) as f64 / 1000.0)
        )?;
    }
    writeln!(out, "#")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::growth::{Elasticity, LatencyPoint};

    /// A scan-growth flag with five latency points over a doubling table.
    pub(crate) fn flag() -> Flag {
        Flag {
            fingerprint: "00000000000000ab".to_owned(),
            database: "shop".to_owned(),
            query: "select id from orders where note = $1".to_owned(),
            summary: "SELECT orders".to_owned(),
            class: "scan_growth".to_owned(),
            explanation: "orders grew 8.0x <and> latency followed".to_owned(),
            table: Some("orders".to_owned()),
            growth: Some(8.0),
            p50_elasticity: Some(Elasticity {
                value: 0.98,
                low: 0.9,
                high: 1.05,
                points: 10,
            }),
            latency: (0..5)
                .map(|i| LatencyPoint {
                    start_ms: i * 1000,
                    calls: 10,
                    p50_ms: 1.0 + i as f64,
                    p95_ms: 2.0 + i as f64,
                    rows_per_call: 1.0,
                    table_bytes: 1 << (20 + i),
                })
                .collect(),
            ..Flag::default()
        }
    }

    #[test]
    fn text_section_lists_each_flag_with_its_evidence() {
        let report = GrowthReport {
            enabled: true,
            flags: vec![flag()],
            ..GrowthReport::default()
        };
        let mut out = String::new();
        text(&mut out, &report).unwrap();
        assert!(out.starts_with("# Degrading hot paths\n"), "{out}");
        assert!(out.contains("[scan_growth] 00000000000000ab SELECT orders (shop)"));
        assert!(out.contains("p50 elasticity 0.98 [0.90, 1.05]"), "{out}");
        assert!(out.contains("orders grew 8.0x"), "{out}");
    }

    #[test]
    fn text_section_shows_the_decision_figures_observations_and_cleared_flags() {
        let mut decided = flag();
        decided.fixed_cost_ms = Some(0.7);
        decided.variable_elasticity = Some(Elasticity {
            value: 0.92,
            low: 0.8,
            high: 1.05,
            points: 10,
        });
        let report = GrowthReport {
            enabled: true,
            flags: vec![decided],
            observations: vec![Flag {
                class: "tail_latency_rose".to_owned(),
                fingerprint: "00000000000000cd".to_owned(),
                ..Flag::default()
            }],
            cleared: vec![crate::growth::ClearedFlag {
                class: "scan_growth".to_owned(),
                fingerprint: "00000000000000ef".to_owned(),
                first_flagged_ms: 0,
                last_flagged_ms: 300_000,
                ..Default::default()
            }],
            ..GrowthReport::default()
        };
        let mut out = String::new();
        text(&mut out, &report).unwrap();
        assert!(
            out.contains("size-dependent part 0.92 [0.80, 1.05] above 0.700 ms fixed"),
            "{out}"
        );
        assert!(
            out.contains("observation [tail_latency_rose] 00000000000000cd"),
            "{out}"
        );
        assert!(
            out.contains("cleared [scan_growth] 00000000000000ef"),
            "{out}"
        );
        assert!(out.contains("flagged for 5 min"), "{out}");
    }

    #[test]
    fn an_empty_or_disabled_monitor_says_so() {
        let mut out = String::new();
        text(&mut out, &GrowthReport::default()).unwrap();
        assert!(out.contains("growth monitoring is off"));
        let mut out = String::new();
        let on = GrowthReport {
            enabled: true,
            rounds: 3,
            ..GrowthReport::default()
        };
        text(&mut out, &on).unwrap();
        assert!(out.contains("none flagged (3 sampling rounds)"));
    }
}
