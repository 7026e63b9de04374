//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched),
//! with the profile table, the baseline changes and, per top query, its figures, its
//! normalized text and a latency-distribution chart.
//!
//! The page is a `maud` template: its shape is checked when pgscope is compiled, and every
//! value put into it (query text, names, error codes) is escaped by construction; only the
//! constant style sheet goes in as written.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::diff::Comparison;
use super::{fmt_ms, growth_html, svg, RankedRow, Report};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}\
table{border-collapse:collapse;margin:1em 0}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}\
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;word-break:break-word}\
.query{border:1px solid #ddd;border-radius:6px;padding:.2em 1em 1em;margin:1.5em 0}\
.meta{color:#555}.bar{fill:#4a7bd0}.axis{font-size:10px;fill:#555}\
.new{color:#0a6}.regressed,.errors{color:#c22;font-weight:bold}.missing{color:#c60}.improved{color:#36c}";

/// Renders `report` as a complete HTML document.
pub fn render(report: &Report) -> String {
    let mut page = page(report).into_string();
    page.push('\n');
    page
}

fn page(report: &Report) -> Markup {
    let totals = &report.totals;
    let recorder = &report.recorder;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "pgscope report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "pgscope report: " (report.span) " since " (report.since) }
                p.meta {
                    "Generated " (report.generated_at) ", ranked by " (report.sort) ". "
                    (totals.entries) " entries, " (totals.calls) " calls, " (totals.errors)
                    " errors, " (fmt_ms(totals.total_ms)) " ms in total. The recorder holds "
                    (recorder.entries) "/" (recorder.max_entries) " entries; "
                    (recorder.evictions) " evicted."
                    @if !recorder.enabled { " " b { "Recording is off." } }
                }
                @if let Some(growth) = &report.growth { (growth_html::section(growth)) }
                @if let Some(replay) = &report.replay { (super::replay::html(replay)) }
                (profile(&report.rows))
                @if let Some(baseline) = &report.baseline { (changes(baseline)) }
                @for ranked in &report.rows { (query(ranked)) }
            }
        }
    }
}

/// The ranked table, each fingerprint linking to its query's section.
fn profile(rows: &[RankedRow]) -> Markup {
    html! {
        h2 { "Profile" }
        table #profile {
            tr {
                th { "Rank" } th.l { "Fingerprint" } th { "Total ms" } th { "Share" }
                th { "Calls" } th { "ms/call" } th { "p50" } th { "p95" } th { "p99" }
                th { "max" } th { "Errors" } th { "Rows/call" } th.l { "Summary" }
            }
            @for ranked in rows {
                @let row = &ranked.row;
                tr {
                    td { (ranked.rank) }
                    td.l { a href={ "#q" (ranked.rank) } { code { (row.fingerprint) } } }
                    td { (fmt_ms(row.total_ms)) }
                    td { (format!("{:.1}%", ranked.share * 100.0)) }
                    td { (row.calls) }
                    td { (fmt_ms(row.mean_ms)) }
                    td { (fmt_ms(row.p50_ms)) }
                    td { (fmt_ms(row.p95_ms)) }
                    td { (fmt_ms(row.p99_ms)) }
                    td { (fmt_ms(row.max_ms)) }
                    td { (row.error_count) }
                    td { (format!("{:.2}", row.rows_per_call)) }
                    td.l { (row.summary) }
                }
            }
        }
        @if rows.is_empty() { p { "No queries were recorded in this span." } }
    }
}

/// The changes against a baseline snapshot, one row per changed entry.
fn changes(baseline: &Comparison) -> Markup {
    html! {
        h2 { "Changes vs baseline saved " (baseline.baseline_taken_at) }
        table #changes {
            tr {
                th.l { "Status" } th { "Rank" } th.l { "Fingerprint" } th { "Calls before" }
                th { "Calls now" } th { "Errors before" } th { "Errors now" }
                th { "p50 before" } th { "p50 now" } th { "p95 before" } th { "p95 now" }
                th { "×" } th { "p99 before" } th { "p99 now" }
                th { "Total ms before" } th { "Total ms now" } th.l { "Summary" }
            }
            @for change in &baseline.changes {
                tr class=(format!("{:?}", change.status).to_ascii_lowercase()) {
                    td.l { (change.status.label()) }
                    td { (change.rank) }
                    td.l { code { (change.fingerprint) } }
                    td { (change.calls_before) }
                    td { (change.calls_after) }
                    td { (change.errors_before) }
                    td {
                        (change.errors_after)
                        @for (code, n) in &change.new_errors {
                            br; span.regressed { "new " (code) "×" (n) }
                        }
                    }
                    td { (fmt_ms(change.p50_before_ms)) }
                    td { (fmt_ms(change.p50_after_ms)) }
                    td { (fmt_ms(change.p95_before_ms)) }
                    td { (fmt_ms(change.p95_after_ms)) }
                    td { (change.p95_ratio.map_or_else(|| "new".to_owned(), |r| format!("{r:.2}"))) }
                    td { (fmt_ms(change.p99_before_ms)) }
                    td { (fmt_ms(change.p99_after_ms)) }
                    td { (fmt_ms(change.total_before_ms)) }
                    td { (fmt_ms(change.total_after_ms)) }
                    td.l { (change.summary) }
                }
            }
        }
    }
}

/// One top query: its figures, its normalized text and its latency chart.
fn query(ranked: &RankedRow) -> Markup {
    let row = &ranked.row;
    let errors = if row.errors.is_empty() {
        "none".to_owned()
    } else {
        row.errors
            .iter()
            .map(|(code, n)| format!("{code}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    html! {
        div.query id={ "q" (ranked.rank) } {
            h2 {
                "Query " (ranked.rank) ": " code { (row.fingerprint) } " — "
                (format!("{:.1}", ranked.share * 100.0)) "% of total time"
            }
            p.meta {
                (row.summary) " · database " b { (row.database) } " · user " b { (row.user) }
                " · application " b { (row.application) } " · tables " (row.tables.join(", "))
            }
            p {
                "Calls " (row.calls) (super::text::batched_note(row.batched_calls, row.batch_mean_ms))
                " · skipped " (row.skipped) " · errors " (errors) " · rows " (row.rows)
                " (" (format!("{:.2}", row.rows_per_call)) "/call) · latency ms: mean "
                (fmt_ms(row.mean_ms)) " · p50 " (fmt_ms(row.p50_ms)) " · p95 "
                (fmt_ms(row.p95_ms)) " · p99 " (fmt_ms(row.p99_ms)) " · max "
                (fmt_ms(row.max_ms)) " · seen " (row.first_seen) " → " (row.last_seen)
            }
            pre { (row.query) }
            (svg::distribution(
                &row.distribution,
                &format!("Latency distribution of query {}", ranked.rank)
            ))
        }
    }
}
