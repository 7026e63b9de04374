//! Subcommands of the `pgscope` binary.
//!
//! The binary's `main` parses [`Cli`] and dispatches here; each subcommand lives in its own
//! module and returns `anyhow::Result`, the only place `anyhow` is used.

pub mod capture;
pub mod check_config;
pub mod fingerprint;
pub mod inspect;
pub mod replay;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod top;

use clap::{Parser, Subcommand};

/// pgscope: a transparent PostgreSQL proxy that fingerprints, times and explains every query.
#[derive(Debug, Parser)]
#[command(name = "pgscope", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (with no --upstream: in front of a throw-away local PostgreSQL cluster).
    Run(pgscope_config::RunArgs),
    /// Validate the configuration `run` would use (the file, PGSCOPE_* variables, the TLS
    /// files they name) without starting anything; prints a one-line summary.
    CheckConfig(pgscope_config::RunArgs),
    /// Print the fingerprint and normalized text of SQL read on stdin (`--jsonl`: one JSON
    /// object per line, its "query" field analysed).
    Fingerprint(fingerprint::FingerprintArgs),
    /// Live view of the queries through a running pgscope (reads its admin API).
    Top(top::TopArgs),
    /// Profile of the top queries of a running pgscope, as text, JSON or HTML.
    Report(report::ReportArgs),
    /// Save a running pgscope's statistics (a baseline for `report --baseline`).
    Snapshot(snapshot::SnapshotArgs),
    /// Record client sessions for `pgscope replay` (start/stop/status through the admin API),
    /// or summarize a capture file (inspect).
    Capture(capture::CaptureArgs),
    /// Replay a capture against another server at its captured rate (or --speed) and compare
    /// each fingerprint with the capture.
    Replay(replay::ReplayArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn execute(self) -> anyhow::Result<()> {
        match self.command {
            Command::Run(args) => run::run(&args),
            Command::CheckConfig(args) => check_config::run(&args, std::io::stdout().lock()),
            Command::Fingerprint(args) => {
                fingerprint::run(&args, std::io::stdin().lock(), std::io::stdout().lock())
            }
            Command::Top(args) => top::run(&args),
            Command::Report(args) => report::run(&args, std::io::stdout().lock()),
            Command::Snapshot(args) => snapshot::run(&args, std::io::stderr().lock()),
            Command::Capture(args) => capture::run(&args, std::io::stdout().lock()),
            Command::Replay(args) => replay::run(&args, std::io::stdout().lock()),
        }
    }
}
