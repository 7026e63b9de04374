//! The inline SVG bar chart of one latency distribution (no script, no external resource).

use std::fmt::Write;

use crate::view::Bin;

use super::html::escape;

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

/// An SVG chart of `bins`, titled for screen readers with `title`.
pub(crate) fn distribution(bins: &[Bin], title: &str) -> String {
    let mut svg = String::new();
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / bins.len().max(1) as f64;
    let _ = write!(
        svg,
        r#"<svg class="dist" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img"><title>{}</title>"#,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{y}" x2="{x2}" y2="{y}" stroke="#888"/><text x="{lx}" y="{ty}" class="axis" text-anchor="end">{max}</text><text x="{lx}" y="{y}" class="axis" text-anchor="end">0</text>"##,
        y = TOP + plot_h,
        x2 = WIDTH - 8.0,
        lx = LEFT - 4.0,
        ty = TOP + 8.0,
        max = max as u64
    );
    for (i, bin) in bins.iter().enumerate() {
        let h = if bin.count == 0 {
            0.0
        } else {
            (bin.count as f64 / max * plot_h).max(1.0)
        };
        let x = LEFT + i as f64 * slot + 1.0;
        let y = TOP + plot_h - h;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" class="bar"><title>≤ {label}: {count}</title></rect>"#,
            w = (slot - 2.0).max(1.0),
            label = escape(&bound_label(bin.le_ms)),
            count = bin.count
        );
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{ly:.1}" class="axis" text-anchor="middle">{label}</text>"#,
            cx = x + slot / 2.0 - 1.0,
            ly = TOP + plot_h + if i % 2 == 0 { 14.0 } else { 26.0 },
            label = escape(&bound_label(bin.le_ms))
        );
    }
    svg.push_str("</svg>");
    svg
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
        let svg = distribution(&bins, "a <title>");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("a &lt;title&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
