//! The `pgscope` binary: see `pgscope --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pgscope::cli::Cli::parse();
    match cli.execute() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pgscope: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
