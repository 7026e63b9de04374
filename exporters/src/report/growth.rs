//! The "Degrading hot paths" section, first in every report format: the growth detector's
//! flags, most impact first, each with what happened, the evidence and what to expect next.
//! In HTML each flag gets a latency-vs-size chart (log–log, so a slope of 1 is a scan).

use std::fmt::Write;

use super::fmt_ms;
use super::html::escape;
use crate::growth::{Flag, GrowthReport};

fn bytes(n: f64) -> String {
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
fn figures(flag: &Flag) -> String {
    let mut parts = Vec::new();
    if let Some(e) = flag.variable_elasticity {
        parts.push(format!(
            "median elasticity of the size-dependent part {:.2} [{:.2}, {:.2}] above {} ms fixed",
            e.value,
            e.low,
            e.high,
            fmt_ms(flag.fixed_cost_ms.unwrap_or(0.0))
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
    }
    if flag.rounds_below > 0 {
        parts.push(format!("below thresholds for {} rounds", flag.rounds_below));
    }
    parts.push(format!("{:.1}% of time", flag.time_share * 100.0));
    parts.join(", ")
}

fn forecast(flag: &Flag) -> Option<String> {
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

fn plan_line(flag: &Flag) -> Option<String> {
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

/// An inline SVG of p95 (and p50) against the blamed table's size, both axes logarithmic.
fn chart(flag: &Flag) -> String {
    let points: Vec<(f64, f64, f64)> = flag
        .latency
        .iter()
        .filter(|p| p.table_bytes > 0 && p.p95_ms > 0.0)
        .map(|p| (p.table_bytes as f64, p.p50_ms.max(1e-3), p.p95_ms))
        .collect();
    if points.len() < 2 {
        return String::new();
    }
    let (w, h, pad) = (420.0, 180.0, 40.0);
    let lx: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ly: Vec<f64> = points.iter().flat_map(|p| [p.1.ln(), p.2.ln()]).collect();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, if hi - lo < 1e-9 { lo + 1.0 } else { hi })
    };
    let ((x0, x1), (y0, y1)) = (range(&lx), range(&ly));
    let sx = |x: f64| pad + (x.ln() - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad / 2.0 - (y.ln() - y0) / (y1 - y0) * (h - pad);
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"latency vs table size\">"
    );
    for (series, class) in [(2usize, "p95"), (1, "p50")] {
        let path: Vec<String> = points
            .iter()
            .map(|p| {
                let y = if series == 2 { p.2 } else { p.1 };
                format!("{:.1},{:.1}", sx(p.0), sy(y))
            })
            .collect();
        let color = if series == 2 { "#c22" } else { "#4a7bd0" };
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"><title>{class}</title></polyline>",
            path.join(" ")
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"{pad}\" y=\"{h}\">{}</text><text class=\"axis\" x=\"{}\" y=\"{h}\" text-anchor=\"end\">{} (table size, log)</text>\
         <text class=\"axis\" x=\"2\" y=\"12\">p95 {} ms</text><text class=\"axis\" x=\"2\" y=\"{}\">{} ms (log)</text>\
         <text class=\"axis\" x=\"{w}\" y=\"12\" text-anchor=\"end\"><tspan fill=\"#c22\">━ p95</tspan> <tspan fill=\"#4a7bd0\">━ p50</tspan></text></svg>",
        bytes(x0.exp()),
        w - pad,
        bytes(x1.exp()),
        fmt_ms(y1.exp()),
        h - pad / 2.0,
        fmt_ms(y0.exp()),
    );
    svg
}

/// Writes the section as HTML.
pub fn html(out: &mut String, growth: &GrowthReport) -> std::fmt::Result {
    write!(out, "<h2 id=\"growth\">Degrading hot paths</h2>")?;
    if !growth.enabled {
        write!(out, "<p class=\"meta\">Growth monitoring is off.</p>")?;
    } else if growth.flags.is_empty() {
        write!(
            out,
            "<p class=\"meta\">None flagged ({} sampling rounds).</p>",
            growth.rounds
        )?;
    }
    for d in growth.databases.iter().filter(|d| !d.ok) {
        write!(
            out,
            "<p class=\"regressed\">Database {}: {}</p>",
            escape(&d.database),
            escape(d.error.as_deref().unwrap_or("not sampled"))
        )?;
    }
    for (i, flag) in growth.flags.iter().enumerate() {
        write!(
            out,
            "<div class=\"query growth\"><h3>{}. <span class=\"regressed\">{}</span> <code>{}</code> {} ({})</h3><p>{}</p><p class=\"meta\">{}</p>",
            i + 1,
            escape(&flag.class),
            escape(&flag.fingerprint),
            escape(&flag.summary),
            escape(&flag.database),
            escape(&flag.explanation),
            escape(&figures(flag)),
        )?;
        for line in [forecast(flag), plan_line(flag)].into_iter().flatten() {
            write!(out, "<p class=\"meta\">{}</p>", escape(&line))?;
        }
        write!(
            out,
            "{}<pre>{}</pre></div>",
            chart(flag),
            escape(&flag.query)
        )?;
    }
    for o in &growth.observations {
        write!(
            out,
            "<p class=\"meta\">Observation, not a degrading hot path: <code>{}</code> {} ({}): {}</p>",
            escape(&o.fingerprint),
            escape(&o.summary),
            escape(&o.database),
            escape(&o.explanation)
        )?;
    }
    for c in &growth.cleared {
        write!(
            out,
            "<p class=\"meta\">Cleared: [{}] <code>{}</code> {} ({})</p>",
            escape(&c.class),
            escape(&c.fingerprint),
            escape(&c.summary),
            escape(&c.database)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::{Elasticity, LatencyPoint};

    fn flag() -> Flag {
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
    fn html_section_escapes_and_draws_a_chart() {
        let report = GrowthReport {
            enabled: true,
            flags: vec![flag()],
            ..GrowthReport::default()
        };
        let mut out = String::new();
        html(&mut out, &report).unwrap();
        assert!(out.contains("&lt;and&gt;"), "{out}");
        assert!(out.contains("<polyline"), "{out}");
        assert!(out.contains("1.0 MB"), "{out}");
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
