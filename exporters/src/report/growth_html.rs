//! The "Degrading hot paths" section in HTML: each flag with what happened, the evidence,
//! what to expect next and a latency-vs-size chart (log–log, so a slope of 1 is a scan). The
//! words are those of the text form ([`super::growth`]); this is their `maud` template.

use maud::{html, Markup};

use super::fmt_ms;
use super::growth::{bytes, figures, forecast, plan_line};
use crate::growth::{Flag, GrowthReport};

/// The section as HTML.
pub fn section(growth: &GrowthReport) -> Markup {
    html! {
        h2 #growth { "Degrading hot paths" }
        @if !growth.enabled {
            p.meta { "Growth monitoring is off." }
        } @else if growth.flags.is_empty() {
            p.meta { "None flagged (" (growth.rounds) " sampling rounds)." }
        }
        @for d in growth.databases.iter().filter(|d| !d.ok) {
            p.regressed {
                "Database " (d.database) ": " (d.error.as_deref().unwrap_or("not sampled"))
            }
        }
        @for (i, flag) in growth.flags.iter().enumerate() {
            div.query.growth {
                h3 {
                    (i + 1) ". " span.regressed { (flag.class) } " " code { (flag.fingerprint) }
                    " " (flag.summary) " (" (flag.database) ")"
                }
                p { (flag.explanation) }
                p.meta { (figures(flag)) }
                @for line in [forecast(flag), plan_line(flag)].into_iter().flatten() {
                    p.meta { (line) }
                }
                (chart(flag))
                pre { (flag.query) }
            }
        }
        @for o in &growth.observations {
            p.meta {
                "Observation, not a degrading hot path: " code { (o.fingerprint) } " "
                (o.summary) " (" (o.database) "): " (o.explanation)
            }
        }
        @for c in &growth.cleared {
            p.meta {
                "Cleared: [" (c.class) "] " code { (c.fingerprint) } " " (c.summary)
                " (" (c.database) ")"
            }
        }
    }
}

/// An inline SVG of p95 (and p50) against the blamed table's size, both axes logarithmic;
/// nothing when fewer than two points have a size and a latency.
fn chart(flag: &Flag) -> Markup {
    let points: Vec<(f64, f64, f64)> = flag
        .latency
        .iter()
        .filter(|p| p.table_bytes > 0 && p.p95_ms > 0.0)
        .map(|p| (p.table_bytes as f64, p.p50_ms.max(1e-3), p.p95_ms))
        .collect();
    if points.len() < 2 {
        return html! {};
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
    let line = |series: usize| {
        points
            .iter()
            .map(|p| {
                let y = if series == 2 { p.2 } else { p.1 };
                format!("{:.1},{:.1}", sx(p.0), sy(y))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="latency vs table size" {
            @for (series, class) in [(2usize, "p95"), (1, "p50")] {
                polyline fill="none" stroke=(if series == 2 { "#c22" } else { "#4a7bd0" })
                    stroke-width="1.5" points=(line(series)) {
                    title { (class) }
                }
            }
            text.axis x=(pad) y=(h) { (bytes(x0.exp())) }
            text.axis x=(w - pad) y=(h) text-anchor="end" {
                (bytes(x1.exp())) " (table size, log)"
            }
            text.axis x="2" y="12" { "p95 " (fmt_ms(y1.exp())) " ms" }
            text.axis x="2" y=(h - pad / 2.0) { (fmt_ms(y0.exp())) " ms (log)" }
            text.axis x=(w) y="12" text-anchor="end" {
                tspan fill="#c22" { "━ p95" } " " tspan fill="#4a7bd0" { "━ p50" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::growth::tests::flag;

    #[test]
    fn html_section_escapes_and_draws_a_chart() {
        let report = GrowthReport {
            enabled: true,
            flags: vec![flag()],
            ..GrowthReport::default()
        };
        let out = section(&report).into_string();
        assert!(out.contains("&lt;and&gt;"), "{out}");
        assert!(out.contains("<polyline"), "{out}");
        assert!(out.contains("1.0 MB"), "{out}");
    }
}
