//! The plain-text report: a header, the profile table, the baseline changes, then each top
//! query with its figures and normalized text — readable in a terminal and in a code review.

use std::fmt::Write;

use super::{fmt_ms, Report};

fn short(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Renders `report` as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    let totals = &report.totals;
    writeln!(
        out,
        "# pgscope report: {} since {} (generated {}), ranked by {}",
        report.span, report.since, report.generated_at, report.sort
    )?;
    writeln!(
        out,
        "# {} entries, {} calls, {} errors, {} ms total; recorder holds {}/{} entries, {} evicted{}",
        totals.entries,
        totals.calls,
        totals.errors,
        fmt_ms(totals.total_ms),
        report.recorder.entries,
        report.recorder.max_entries,
        report.recorder.evictions,
        if report.recorder.enabled { "" } else { " (recording is OFF)" }
    )?;
    writeln!(out, "#")?;
    if let Some(growth) = &report.growth {
        super::growth::text(out, growth)?;
    }
    if let Some(replay) = &report.replay {
        super::replay::text(out, replay)?;
    }
    writeln!(out, "# Profile")?;
    writeln!(
        out,
        "# {:>4} {:<16} {:>11} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}  Summary",
        "Rank",
        "Fingerprint",
        "Total ms",
        "Share",
        "Calls",
        "ms/call",
        "p50",
        "p95",
        "p99",
        "max",
        "Errors",
        "Rows/call"
    )?;
    for ranked in &report.rows {
        let row = &ranked.row;
        writeln!(
            out,
            "# {:>4} {:<16} {:>11} {:>5.1}% {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9.2}  {}",
            ranked.rank,
            row.fingerprint,
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
            short(&row.summary, 60)
        )?;
    }
    if report.rows.is_empty() {
        writeln!(out, "#      (no queries recorded in this span)")?;
    }
    if let Some(baseline) = &report.baseline {
        writeln!(out, "#")?;
        writeln!(
            out,
            "# Changes vs baseline saved {} (new and regressed first)",
            baseline.baseline_taken_at
        )?;
        writeln!(
            out,
            "# {:<10} {:>4} {:<16} {:>21} {:>15} {:>21} {:>29} {:>21} {:>25}  Summary",
            "Status",
            "Rank",
            "Fingerprint",
            "Calls before → now",
            "Errors",
            "p50 ms",
            "p95 ms before → now (×)",
            "p99 ms",
            "Total ms before → now"
        )?;
        for change in &baseline.changes {
            let ratio = change
                .p95_ratio
                .map_or_else(|| "new".to_owned(), |r| format!("×{r:.2}"));
            let arrow = |before: f64, after: f64| format!("{} → {}", fmt_ms(before), fmt_ms(after));
            writeln!(
                out,
                "# {:<10} {:>4} {:<16} {:>21} {:>15} {:>21} {:>29} {:>21} {:>25}  {}",
                change.status.label(),
                change.rank,
                change.fingerprint,
                format!("{} → {}", change.calls_before, change.calls_after),
                format!("{} → {}", change.errors_before, change.errors_after),
                arrow(change.p50_before_ms, change.p50_after_ms),
                format!(
                    "{} ({ratio})",
                    arrow(change.p95_before_ms, change.p95_after_ms)
                ),
                arrow(change.p99_before_ms, change.p99_after_ms),
                arrow(change.total_before_ms, change.total_after_ms),
                short(&change.summary, 50)
            )?;
            if !change.new_errors.is_empty() {
                let codes: Vec<String> = change
                    .new_errors
                    .iter()
                    .map(|(code, n)| format!("{code}×{n}"))
                    .collect();
                writeln!(out, "#   new errors: {}", codes.join(", "))?;
            }
        }
    }
    for ranked in &report.rows {
        let row = &ranked.row;
        writeln!(out)?;
        writeln!(
            out,
            "# Query {}: {} — {:.1}% of total time, {}",
            ranked.rank,
            row.fingerprint,
            ranked.share * 100.0,
            row.summary
        )?;
        writeln!(
            out,
            "#   database={} user={} application={}",
            row.database, row.user, row.application
        )?;
        let errors = if row.errors.is_empty() {
            "none".to_owned()
        } else {
            row.errors
                .iter()
                .map(|(code, n)| format!("{code}×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "#   calls {}{}, skipped {}, errors {}, rows {} ({:.2}/call)",
            row.calls,
            batched_note(row.batched_calls, row.batch_mean_ms),
            row.skipped,
            errors,
            row.rows,
            row.rows_per_call
        )?;
        writeln!(
            out,
            "#   latency ms: mean {} p50 {} p95 {} p99 {} max {}",
            fmt_ms(row.mean_ms),
            fmt_ms(row.p50_ms),
            fmt_ms(row.p95_ms),
            fmt_ms(row.p99_ms),
            fmt_ms(row.max_ms)
        )?;
        writeln!(
            out,
            "#   seen {} → {}; tables: {}",
            row.first_seen,
            row.last_seen,
            if row.tables.is_empty() {
                "-".to_owned()
            } else {
                row.tables.join(", ")
            }
        )?;
        writeln!(out, "{}", row.query)?;
    }
    Ok(())
}

/// ` (N batched, latency not observed; their Query took M ms on average)` when some calls
/// were batched, else nothing.
pub(crate) fn batched_note(batched_calls: u64, batch_mean_ms: Option<f64>) -> String {
    match (batched_calls, batch_mean_ms) {
        (0, _) => String::new(),
        (n, Some(mean)) => format!(
            " ({n} batched, latency not observed; their Query took {} ms on average)",
            fmt_ms(mean)
        ),
        (n, None) => format!(" ({n} batched, latency not observed)"),
    }
}
