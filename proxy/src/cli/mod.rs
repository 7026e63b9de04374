//! Subcommands of the `pgscope` binary.
//!
//! The binary's `main` parses [`Cli`] and dispatches here; each subcommand lives in its own
//! module and returns `anyhow::Result`, the only place `anyhow` is used.

pub mod fingerprint;
pub mod run;

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
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn execute(self) -> anyhow::Result<()> {
        match self.command {
            Command::Run(args) => run::run(&args),
        }
    }
}
