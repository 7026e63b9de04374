//! `pgscope snapshot save FILE`: fetch the running recorder's snapshot from the admin API and
//! write it atomically — a baseline for `pgscope report --baseline FILE`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::report::AdminArgs;
use crate::recorder::persist::{write_atomic, PersistError};

/// Flags of `pgscope snapshot`.
#[derive(Debug, Clone, clap::Args)]
pub struct SnapshotArgs {
    /// What to do
    #[command(subcommand)]
    pub action: SnapshotAction,
}

/// Subcommands of `pgscope snapshot`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SnapshotAction {
    /// Save the running recorder's snapshot to FILE
    Save {
        /// Where to write it
        file: PathBuf,
        /// The admin API
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Runs `pgscope snapshot`.
pub fn run(args: &SnapshotArgs, mut stderr: impl Write) -> anyhow::Result<()> {
    match &args.action {
        SnapshotAction::Save { file, admin } => {
            let body = admin.client().get("/api/v1/snapshot")?;
            let snapshot = pgscope_exporters::read_snapshot(body.as_slice())
                .context("the admin API sent a snapshot this pgscope cannot read")?;
            write_atomic(file, |writer| {
                writer.write_all(&body).map_err(|cause| PersistError::Io {
                    action: "cannot write",
                    path: file.clone(),
                    cause,
                })
            })?;
            writeln!(
                stderr,
                "pgscope: saved {} entries to {}",
                snapshot.entries.len(),
                file.display()
            )?;
            Ok(())
        }
    }
}
