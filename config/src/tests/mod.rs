//! Tests of loading through the public API: sources and precedence, error messages, and the
//! accepted and rejected forms of each kind of value.

mod errors;
mod growth;
mod recorder;
mod sources;
mod tls;
mod tracing;
mod values;

use std::io::Write;

use clap::Parser;

use crate::{Config, ConfigError, RunArgs};

/// A stand-in for the binary's `pgscope run` so flags are parsed exactly as users type them.
#[derive(Debug, Parser)]
struct Run {
    #[command(flatten)]
    args: RunArgs,
}

/// `RunArgs` from command-line words (without the program name).
fn flags(words: &[&str]) -> RunArgs {
    let argv = std::iter::once("pgscope-run").chain(words.iter().copied());
    match Run::try_parse_from(argv) {
        Ok(run) => run.args,
        Err(err) => panic!("flags {words:?} did not parse: {err}"),
    }
}

/// An environment from name/value pairs.
fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A temporary TOML file holding `contents`.
fn toml_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("create temp file");
    file.write_all(contents.as_bytes())
        .expect("write temp file");
    file
}

/// `RunArgs` naming `file` with `--config` and nothing else.
fn with_file(file: &tempfile::NamedTempFile) -> RunArgs {
    RunArgs {
        config: Some(file.path().to_owned()),
        ..RunArgs::default()
    }
}

/// Loads from flags and environment, expecting success.
fn load(args: &RunArgs, pairs: &[(&str, &str)]) -> Config {
    match Config::load_from(args, env(pairs)) {
        Ok(config) => config,
        Err(err) => panic!("expected a valid config, got: {err}"),
    }
}

/// Loads from flags and environment, expecting an error; returns it with its message.
fn load_err(args: &RunArgs, pairs: &[(&str, &str)]) -> (ConfigError, String) {
    match Config::load_from(args, env(pairs)) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => {
            let message = err.to_string();
            (err, message)
        }
    }
}

/// The message of the error from setting `key` to `value` in the environment.
fn env_error(key: &str, value: &str) -> String {
    let name = crate::raw::env_name(key);
    load_err(&RunArgs::default(), &[(name.as_str(), value)]).1
}
