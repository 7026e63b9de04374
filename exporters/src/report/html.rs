//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched),
//! with the profile table, the baseline changes and, per top query, its figures, its
//! normalized text and a latency-distribution chart.

use std::fmt::Write;

use super::{fmt_ms, svg, Report};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}\
table{border-collapse:collapse;margin:1em 0}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}\
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;word-break:break-word}\
.query{border:1px solid #ddd;border-radius:6px;padding:.2em 1em 1em;margin:1.5em 0}\
.meta{color:#555}.bar{fill:#4a7bd0}.axis{font-size:10px;fill:#555}\
.new{color:#0a6}.regressed{color:#c22;font-weight:bold}.improved{color:#36c}";

/// Renders `report` as a complete HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    let totals = &report.totals;
    write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>pgscope report</title><style>{STYLE}</style></head><body>"
    )?;
    write!(
        out,
        "<h1>pgscope report: {} since {}</h1><p class=\"meta\">Generated {}, ranked by {}. {} entries, {} calls, {} errors, {} ms in total. The recorder holds {}/{} entries; {} evicted.{}</p>",
        escape(&report.span),
        escape(&report.since),
        escape(&report.generated_at),
        escape(&report.sort),
        totals.entries,
        totals.calls,
        totals.errors,
        fmt_ms(totals.total_ms),
        report.recorder.entries,
        report.recorder.max_entries,
        report.recorder.evictions,
        if report.recorder.enabled { "" } else { " <b>Recording is off.</b>" }
    )?;
    if let Some(growth) = &report.growth {
        super::growth::html(out, growth)?;
    }
    write!(
        out,
        "<h2>Profile</h2><table id=\"profile\"><tr><th>Rank</th><th class=\"l\">Fingerprint</th><th>Total ms</th><th>Share</th><th>Calls</th><th>ms/call</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>Errors</th><th>Rows/call</th><th class=\"l\">Summary</th></tr>"
    )?;
    for ranked in &report.rows {
        let row = &ranked.row;
        write!(
            out,
            "<tr><td>{}</td><td class=\"l\"><a href=\"#q{}\"><code>{}</code></a></td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td class=\"l\">{}</td></tr>",
            ranked.rank,
            ranked.rank,
            escape(&row.fingerprint),
            fmt_ms(row.total_ms),
            ranked.share * 100.0,
            row.calls,
            fmt_ms(row.mean_ms),
            fmt_ms(row.p50_ms),
            fmt_ms(row.p95_ms),
            fmt_ms(row.p99_ms),
            fmt_ms(row.max_ms),
            row.error_count,
            row.rows_per_call,
            escape(&row.summary)
        )?;
    }
    out.push_str("</table>");
    if report.rows.is_empty() {
        out.push_str("<p>No queries were recorded in this span.</p>");
    }
    if let Some(baseline) = &report.baseline {
        write!(
            out,
            "<h2>Changes vs baseline saved {}</h2><table id=\"changes\"><tr><th class=\"l\">Status</th><th>Rank</th><th class=\"l\">Fingerprint</th><th>Calls before</th><th>Calls now</th><th>p95 before</th><th>p95 now</th><th>×</th><th>Total ms before</th><th>Total ms now</th><th class=\"l\">Summary</th></tr>",
            escape(&baseline.baseline_taken_at)
        )?;
        for change in &baseline.changes {
            let class = format!("{:?}", change.status).to_ascii_lowercase();
            write!(
                out,
                "<tr class=\"{class}\"><td class=\"l\">{}</td><td>{}</td><td class=\"l\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                change.status.label(),
                change.rank,
                escape(&change.fingerprint),
                change.calls_before,
                change.calls_after,
                fmt_ms(change.p95_before_ms),
                fmt_ms(change.p95_after_ms),
                change.p95_ratio.map_or_else(|| "new".to_owned(), |r| format!("{r:.2}")),
                fmt_ms(change.total_before_ms),
                fmt_ms(change.total_after_ms),
                escape(&change.summary)
            )?;
        }
        out.push_str("</table>");
    }
    for ranked in &report.rows {
        let row = &ranked.row;
        let errors = if row.errors.is_empty() {
            "none".to_owned()
        } else {
            row.errors
                .iter()
                .map(|(code, n)| format!("{}×{n}", escape(code)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            out,
            "<div class=\"query\" id=\"q{}\"><h2>Query {}: <code>{}</code> — {:.1}% of total time</h2><p class=\"meta\">{} · database <b>{}</b> · user <b>{}</b> · application <b>{}</b> · tables {}</p><p>Calls {}{} · skipped {} · errors {} · rows {} ({:.2}/call) · latency ms: mean {} · p50 {} · p95 {} · p99 {} · max {} · seen {} → {}</p><pre>{}</pre>{}</div>",
            ranked.rank,
            ranked.rank,
            escape(&row.fingerprint),
            ranked.share * 100.0,
            escape(&row.summary),
            escape(&row.database),
            escape(&row.user),
            escape(&row.application),
            escape(&row.tables.join(", ")),
            row.calls,
            escape(&super::text::batched_note(row.batched_calls)),
            row.skipped,
            errors,
            row.rows,
            row.rows_per_call,
            fmt_ms(row.mean_ms),
            fmt_ms(row.p50_ms),
            fmt_ms(row.p95_ms),
            fmt_ms(row.p99_ms),
            fmt_ms(row.max_ms),
            escape(&row.first_seen),
            escape(&row.last_seen),
            escape(&row.query),
            svg::distribution(
                &row.distribution,
                &format!("Latency distribution of query {}", ranked.rank)
            )
        )?;
    }
    out.push_str("</body></html>\n");
    Ok(())
}
