//! `pgscope replay FILE --target URL`: the captured sessions sent again to the target at their
//! captured rate (or `--speed`), with a progress bar while they run and, at the end, the
//! comparison report per fingerprint (text on standard output, or `--report FILE` as text,
//! JSON or HTML by its extension) — the renderers of `pgscope report --baseline`, the capture
//! being the baseline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use pgscope_config::{Pgpass, Target};
use pgscope_exporters::report::{ReplayFailure, ReplayStall, ReplaySummary};

use super::report::{render, Format};
use crate::replay::{compare, load, Counters, Options, Replay, Speed};
use crate::shape::Shapes;

/// Flags of `pgscope replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The capture file (its rotated parts, FILE's stem.1.ext …, are read too)
    pub file: PathBuf,
    /// The server to replay against: postgres://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?sslmode=…]
    /// (a user or database given here replaces every session's own)
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// Captured time ÷ this factor (1.0 is the captured rate), or max: no waiting
    #[arg(long, default_value = "1.0")]
    pub speed: String,
    /// Run N copies of every session
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub multiply: u32,
    /// Leave out requests that write (for a replica)
    #[arg(long)]
    pub read_only: bool,
    /// Cancel a statement that waits on a lock longer than this (e.g. 5s); default: never
    #[arg(long, value_name = "DURATION")]
    pub stall_timeout: Option<String>,
    /// Write the comparison report to FILE (.json, .html or .txt) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Connection timeout per session
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub connect_timeout: String,
    /// Threads driving the sessions, each its share of them (default: one per CPU, at most
    /// one per session)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
}

/// The threads to drive `sessions` sessions with: `asked`, or one per CPU, at most one per
/// session — as pgbench's `-j` threads, each driving its share of the connections.
fn threads(asked: Option<u32>, sessions: u64) -> usize {
    if let Some(n) = asked {
        return n as usize;
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    usize::try_from(sessions)
        .unwrap_or(usize::MAX)
        .clamp(1, cpus)
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text).with_context(|| format!("bad {flag} {text:?}"))
}

/// The report's format from the file's extension.
fn format_of(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Format::Json),
        Some("html" | "htm") => Ok(Format::Html),
        Some("txt" | "text") => Ok(Format::Text),
        _ => anyhow::bail!(
            "--report {}: name the file .json, .html or .txt to choose the format",
            path.display()
        ),
    }
}

/// Runs `pgscope replay`.
pub fn run(args: &ReplayArgs, mut stdout: impl Write) -> anyhow::Result<()> {
    let target = Target::parse(&args.target)?;
    let speed: Speed = args.speed.parse().map_err(anyhow::Error::msg)?;
    let stall_timeout = args
        .stall_timeout
        .as_deref()
        .map(|text| duration("--stall-timeout", text))
        .transpose()?;
    let format = args.report.as_deref().map(format_of).transpose()?;
    let env = |name: &str| std::env::var(name).ok();
    let pgpass = match Pgpass::default_path(env) {
        Some(path) => Pgpass::load(&path).unwrap_or_else(|warning| {
            log::warn!("{warning}");
            Pgpass::default()
        }),
        None => Pgpass::default(),
    };
    let options = Options {
        target: target.clone(),
        speed,
        multiply: args.multiply,
        read_only: args.read_only,
        stall_timeout,
        pgpassword: env("PGPASSWORD"),
        pgpass,
        connect_timeout: duration("--connect-timeout", &args.connect_timeout)?,
    };
    let shapes = Arc::new(Shapes::new(10_000, 4096));
    let loaded = load::load(&args.file, &shapes)?;
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    let capture = &loaded.capture;
    let replay = Replay::new(capture, options, shapes);
    let bar = progress(replay.total_steps());
    let counters = replay.counters();
    let sessions = replay.sessions();
    let threads = threads(args.threads, sessions);
    let done = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| tick(&bar, &counters, sessions, &done));
        let outcome = replay.run_on_threads(threads);
        done.store(true, Ordering::Relaxed);
        outcome
    })?;
    bar.finish_and_clear();
    let summary = ReplaySummary {
        capture: args.file.display().to_string(),
        target: target.to_string(),
        speed: args.speed.clone(),
        multiply: args.multiply,
        read_only: args.read_only,
        sessions: outcome.sessions,
        captured_ms: capture.duration.as_secs_f64() * 1000.0,
        replayed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
        statements_captured: 0,
        statements_replayed: 0,
        skipped_requests: outcome.skipped_requests,
        stalls: outcome
            .stalls
            .iter()
            .map(|s| ReplayStall {
                session: s.session,
                copy: s.copy,
                waited_ms: s.waited_ms,
            })
            .collect(),
        failures: outcome
            .failures
            .iter()
            .map(|f| ReplayFailure {
                session: f.session,
                copy: f.copy,
                error: f.error.clone(),
            })
            .collect(),
        warnings: loaded.warnings.clone(),
    };
    for failure in &summary.failures {
        log::warn!(
            "session {} (copy {}) failed: {}",
            failure.session,
            failure.copy,
            failure.error
        );
    }
    let report = compare::report(&outcome, capture, summary);
    let rendered = render(&report, format.unwrap_or(Format::Text))?;
    match &args.report {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => stdout.write_all(rendered.as_bytes())?,
    }
    if outcome.failures.len() as u64 == outcome.sessions && outcome.sessions > 0 {
        anyhow::bail!("no session could be replayed (see the report)");
    }
    Ok(())
}

/// The progress bar: hidden when standard error is not a terminal.
fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} requests {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Updates the bar from the counters until `done`.
fn tick(bar: &ProgressBar, counters: &Counters, sessions: u64, done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        bar.set_position(counters.steps.load(Ordering::Relaxed));
        let stalls = counters.stalls.load(Ordering::Relaxed);
        bar.set_message(format!(
            "· {} connected, {}/{sessions} sessions done{}",
            counters.connected.load(Ordering::Relaxed),
            counters.finished.load(Ordering::Relaxed),
            if stalls > 0 {
                format!(", {stalls} stalled")
            } else {
                String::new()
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::threads;

    #[test]
    fn sessions_get_one_thread_per_cpu_but_never_more_threads_than_sessions_unless_asked() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(threads(None, 0), 1);
        assert_eq!(threads(None, 1), 1);
        assert_eq!(threads(None, 10_000), cpus);
        assert_eq!(threads(Some(3), 1), 3);
    }
}
