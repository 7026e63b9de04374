//! The `pgscope` binary: see `pgscope --help`.

use clap::Parser;

/// The process's allocator: mimalloc's thread-local free lists instead of glibc's arenas.
/// Every query allocates and frees a few small objects on whichever worker thread runs it
/// (events, span attributes, the exporter's protobuf structs); see `benches/README.md`,
/// "Allocator", for what it saves.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
