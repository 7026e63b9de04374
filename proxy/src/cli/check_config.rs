//! `pgscope check-config`: validates the configuration `pgscope run` would use, starting
//! nothing.
//!
//! It takes `run`'s flags (usually just `--config FILE`) and reads the file and the
//! `PGSCOPE_*` environment exactly as `run` does (`pgscope_config::Config::load`), then loads
//! the TLS material the configuration names — the client-facing certificate, key and client
//! CA (`[tls]`) and the upstream's root certificates (`upstream`'s `sslrootcert`) — with the
//! same code `run` uses, so an unreadable or mismatched file fails here and not at start. It
//! binds no socket (the addresses may belong to the pgscope being reloaded), starts no
//! cluster and connects nowhere. Success prints one line summarising the configuration and
//! exits 0; a failure exits non-zero with `run`'s error message, which names the key.

use std::io::Write;

use anyhow::Context;
use pgscope_config::{Config, ListenAddr, RunArgs};

use crate::tls::{ServerTls, UpstreamConnector};

/// Validates the configuration for these `run` flags and writes the one-line summary to
/// `out`.
pub fn run(args: &RunArgs, mut out: impl Write) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    for listen in &config.listen {
        if let ListenAddr::Unix(path) = listen {
            super::run::check_socket_dir(path)?;
        }
    }
    if let Some(dir) = &config.recorder.state_dir {
        anyhow::ensure!(
            !dir.exists() || dir.is_dir(),
            "recorder.state_dir: {} exists and is not a directory",
            dir.display()
        );
    }
    ServerTls::load(&config.tls).context("cannot set up TLS for clients ([tls])")?;
    let upstream = match &config.upstream {
        Some(upstream) => UpstreamConnector::new(upstream, config.connect_timeout)
            .context("cannot set up TLS to the upstream server (upstream)")?
            .label()
            .to_owned(),
        None => "a throw-away local cluster".to_owned(),
    };
    writeln!(out, "{}", summary(args, &config, &upstream))?;
    Ok(())
}

/// `configuration OK (FILE): listen … -> UPSTREAM; admin …; client TLS …; recorder …;
/// tracing …; growth …`.
fn summary(args: &RunArgs, config: &Config, upstream: &str) -> String {
    let file = match args
        .config
        .clone()
        .or_else(|| std::env::var_os("PGSCOPE_CONFIG").map(Into::into))
    {
        Some(path) if !path.as_os_str().is_empty() => path.display().to_string(),
        _ => "no file".to_owned(),
    };
    let listen: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    let on_off = |on: bool| if on { "on" } else { "off" };
    let tracing = match (&config.tracing.endpoint, config.tracing.enabled) {
        (Some(endpoint), true) => format!("to {endpoint}"),
        _ => "off".to_owned(),
    };
    format!(
        "configuration OK ({file}): listen {} -> {upstream}; admin {}{}; client TLS {}; \
         recorder {}; tracing {tracing}; growth {}",
        listen.join(", "),
        config.admin,
        if config.admin_token.is_some() {
            " (token)"
        } else {
            ""
        },
        config.tls.mode.as_str(),
        on_off(config.recorder.enabled),
        on_off(config.recorder.enabled && config.growth.enabled),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn args_for(file: &Path) -> RunArgs {
        RunArgs {
            config: Some(file.to_path_buf()),
            ..RunArgs::default()
        }
    }

    #[test]
    fn a_valid_file_gives_one_summary_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgscope.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7432\"\nupstream = \"postgres://db.example:5433\"\n",
        )
        .unwrap();
        let mut out = Vec::new();
        run(&args_for(&file), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("configuration OK ("), "{text}");
        assert!(text.contains("127.0.0.1:7432 -> "), "{text}");
        assert!(text.contains("db.example:5433"), "{text}");
    }

    #[test]
    fn a_bad_value_fails_naming_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgscope.toml");
        std::fs::write(&file, "connect_timeout = \"soon\"\n").unwrap();
        let err = run(&args_for(&file), Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("connect_timeout"), "{err:#}");
    }

    #[test]
    fn a_missing_tls_certificate_fails_naming_the_tls_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgscope.toml");
        let missing = dir.path().join("missing.pem");
        std::fs::write(
            &file,
            format!(
                "[tls]\nmode = \"require\"\ncert = \"{0}\"\nkey = \"{0}\"\n",
                missing.display()
            ),
        )
        .unwrap();
        let err = run(&args_for(&file), Vec::new()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("[tls]"), "{text}");
        assert!(text.contains("missing.pem"), "{text}");
    }
}
