//! `pgscope capture start|stop|status` (through the admin API) and `pgscope capture inspect
//! FILE` (reads the file itself).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{json, Value};

use super::report::AdminArgs;

/// Flags of `pgscope capture`.
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// What to do
    #[command(subcommand)]
    pub action: CaptureAction,
}

/// Subcommands of `pgscope capture`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CaptureAction {
    /// Start capturing the sessions that connect from now on
    Start {
        /// How long to capture (e.g. 60s, 10m; default 10m)
        #[arg(long)]
        duration: Option<String>,
        /// Bound on the bytes written, all parts together (default 1 GiB)
        #[arg(long, value_name = "BYTES")]
        max_bytes: Option<u64>,
        /// Start a new part file at this size
        #[arg(long, value_name = "BYTES")]
        rotate_bytes: Option<u64>,
        /// The capture file, an absolute path on pgscope's machine (must not exist)
        #[arg(long, conflicts_with = "directory")]
        path: Option<PathBuf>,
        /// A directory (on pgscope's machine) for capture-<time>.pgcap
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Replace literals and parameter values (same types and sizes)
        #[arg(long)]
        redact: bool,
        /// Capture only this database (repeatable)
        #[arg(long)]
        database: Vec<String>,
        /// Capture only this user (repeatable)
        #[arg(long)]
        user: Vec<String>,
        /// Capture only this application_name (repeatable)
        #[arg(long)]
        application: Vec<String>,
        /// The admin API
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Stop the running capture (returns once its file is complete)
    Stop {
        /// The admin API
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show the running (or last) capture as JSON
    Status {
        /// The admin API
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Summarize a capture file: sessions, statements, fingerprints, rate, drops, truncation
    Inspect(super::inspect::InspectArgs),
}

/// Runs `pgscope capture`.
pub fn run(args: &CaptureArgs, mut out: impl Write) -> anyhow::Result<()> {
    match &args.action {
        CaptureAction::Start {
            duration,
            max_bytes,
            rotate_bytes,
            path,
            directory,
            redact,
            database,
            user,
            application,
            admin,
        } => {
            let body = json!({
                "duration": duration,
                "max_bytes": max_bytes,
                "rotate_bytes": rotate_bytes,
                "path": path,
                "directory": directory,
                "redact": redact,
                "database": database,
                "user": user,
                "application": application,
            });
            let reply = admin
                .client()
                .post_json("/api/v1/capture", body.to_string().as_bytes())?;
            let reply: Value = serde_json::from_slice(&reply).context("the admin API's reply")?;
            let c = &reply["capture"];
            writeln!(
                out,
                "capturing to {} for {}s (max_bytes {}, redact {})",
                c["path"].as_str().unwrap_or("?"),
                c["duration_seconds"],
                c["max_bytes"],
                c["redact"]
            )?;
        }
        CaptureAction::Stop { admin } => {
            let reply = admin.client().delete("/api/v1/capture")?;
            let reply: Value = serde_json::from_slice(&reply).context("the admin API's reply")?;
            let c = &reply["capture"];
            writeln!(
                out,
                "capture stopped ({}): {} sessions, {} records, {} bytes, {} dropped in {}",
                c["reason"].as_str().unwrap_or("?"),
                c["sessions"],
                c["records"],
                c["bytes"],
                c["dropped"],
                c["parts"]
            )?;
        }
        CaptureAction::Status { admin } => {
            let reply = admin.client().get("/api/v1/capture")?;
            let reply: Value = serde_json::from_slice(&reply).context("the admin API's reply")?;
            writeln!(out, "{}", serde_json::to_string_pretty(&reply)?)?;
        }
        CaptureAction::Inspect(inspect) => super::inspect::run(inspect, out)?,
    }
    Ok(())
}
