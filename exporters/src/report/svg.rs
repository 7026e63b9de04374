//! The inline SVG bar chart of one latency distribution (no script, no external resource), a
//! `maud` template like the page around it.

use maud::{html, Markup};

use crate::view::Bin;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 12.0;

/// A compact label for a bin bound in ms: `0.001`, `0.5`, `20`, `5k`.
fn bound_label(le_ms: f64) -> String {
    if le_ms >= 1000.0 {
        format!("{}s", trim(le_ms / 1000.0))
    } else {
        format!("{}ms", trim(le_ms))
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One decimal, as SVG coordinates are written here.
fn dec1(value: f64) -> String {
    format!("{value:.1}")
}

/// An SVG chart of `bins`, titled for screen readers with `title`.
pub(crate) fn distribution(bins: &[Bin], title: &str) -> Markup {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / bins.len().max(1) as f64;
    let base = TOP + plot_h;
    html! {
        svg.dist xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            width=(WIDTH) height=(HEIGHT) role="img" {
            title { (title) }
            line x1=(LEFT) y1=(base) x2=(WIDTH - 8.0) y2=(base) stroke="#888" {}
            text x=(LEFT - 4.0) y=(TOP + 8.0) class="axis" text-anchor="end" { (max as u64) }
            text x=(LEFT - 4.0) y=(base) class="axis" text-anchor="end" { "0" }
            @for (i, bin) in bins.iter().enumerate() {
                @let h = if bin.count == 0 { 0.0 } else { (bin.count as f64 / max * plot_h).max(1.0) };
                @let x = LEFT + i as f64 * slot + 1.0;
                @let label = bound_label(bin.le_ms);
                rect x=(dec1(x)) y=(dec1(base - h)) width=(dec1((slot - 2.0).max(1.0)))
                    height=(dec1(h)) class="bar" {
                    title { "≤ " (label) ": " (bin.count) }
                }
                text x=(dec1(x + slot / 2.0 - 1.0))
                    y=(dec1(base + if i % 2 == 0 { 14.0 } else { 26.0 }))
                    class="axis" text-anchor="middle" { (label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_labels_are_short() {
        assert_eq!(bound_label(0.001), "0.001ms");
        assert_eq!(bound_label(20.0), "20ms");
        assert_eq!(bound_label(5000.0), "5s");
    }

    #[test]
    fn chart_has_one_bar_per_bin() {
        let bins = [
            Bin {
                le_ms: 1.0,
                count: 3,
            },
            Bin {
                le_ms: 2.0,
                count: 0,
            },
            Bin {
                le_ms: 5.0,
                count: 9,
            },
        ];
        let svg = distribution(&bins, "a <title>").into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("a &lt;title&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
