//! Every key from every source, defaults, and precedence between sources.

use std::net::SocketAddr;
use std::time::Duration;

use super::{flags, load, toml_file, with_file};
use crate::raw::{env_name, KEYS};
use crate::{Config, ListenAddr, LogFormat, LogLevel, RecorderConfig, RunArgs, Secret, Upstream};

/// One text value per key, all different from the defaults.
const SAMPLE: &[(&str, &str)] = &[
    ("listen", "127.0.0.2:7000"),
    ("upstream", "postgres://db.example:6543"),
    ("admin", "[::1]:9999"),
    ("max_message_size", "64MB"),
    ("pipeline_timing", "batch"),
    ("connect_timeout", "250ms"),
    ("startup_timeout", "7s"),
    ("shutdown_grace", "1m"),
    ("handover_grace", "90s"),
    ("max_connections", "42"),
    ("max_startup_connections", "7"),
    ("threads", "3"),
    ("log_level", "debug"),
    ("log_format", "json"),
    ("admin_token", "s3cret-token"),
];

/// The configuration [`SAMPLE`] describes.
fn sample_config() -> Config {
    Config {
        listen: vec![ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 2], 7000)))],
        upstream: Some(Upstream::tcp("db.example", 6543)),
        admin: SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 9999)),
        max_message_size: 64 << 20,
        pipeline_timing: crate::PipelineTiming::Batch,
        connect_timeout: Duration::from_millis(250),
        startup_timeout: Duration::from_secs(7),
        shutdown_grace: Duration::from_secs(60),
        handover_grace: Duration::from_secs(90),
        max_connections: 42,
        max_startup_connections: 7,
        threads: 3,
        log_level: LogLevel::Debug,
        log_format: LogFormat::Json,
        admin_token: Some(Secret::new("s3cret-token")),
        tls: crate::TlsConfig::default(),
        recorder: RecorderConfig::default(),
        tracing: crate::TracingConfig::default(),
        growth: crate::GrowthConfig::default(),
        capture: crate::CaptureConfig::default(),
    }
}

fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

#[test]
fn sample_covers_every_top_level_key() {
    let sampled: Vec<&str> = SAMPLE.iter().map(|(key, _)| *key).collect();
    let top_level: Vec<&str> = KEYS.iter().copied().filter(|k| !k.contains('.')).collect();
    assert_eq!(sampled, top_level);
}

#[test]
fn nothing_set_gives_defaults() {
    let config = load(&RunArgs::default(), &[("PATH", "/usr/bin")]);
    assert_eq!(config, Config::default());
    assert_eq!(config.listen[0].to_string(), "127.0.0.1:6432");
    assert_eq!(config.admin.to_string(), "127.0.0.1:9187");
    assert_eq!(config.upstream, None);
    assert_eq!(config.max_message_size, 1 << 30);
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.handover_grace, Duration::from_secs(300));
    assert_eq!(config.max_connections, 10_000);
    assert!(config.threads >= 1);
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn every_key_is_read_from_flags() {
    let words: Vec<String> = SAMPLE
        .iter()
        .flat_map(|(key, value)| [flag(key), (*value).to_owned()])
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    assert_eq!(load(&flags(&words), &[]), sample_config());
}

#[test]
fn every_key_is_read_from_environment() {
    let names: Vec<(String, &str)> = SAMPLE
        .iter()
        .map(|(key, value)| (env_name(key), *value))
        .collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(load(&RunArgs::default(), &pairs), sample_config());
}

#[test]
fn every_key_is_read_from_file_as_strings() {
    let text: String = SAMPLE
        .iter()
        .map(|(key, value)| format!("{key} = {value:?}\n"))
        .collect();
    let file = toml_file(&text);
    assert_eq!(load(&with_file(&file), &[]), sample_config());
}

#[test]
fn numeric_keys_are_read_from_file_as_integers() {
    let file = toml_file("max_message_size = 67108864\nmax_connections = 42\nthreads = 3\n");
    let config = load(&with_file(&file), &[]);
    assert_eq!(config.max_message_size, 64 << 20);
    assert_eq!(config.max_connections, 42);
    assert_eq!(config.threads, 3);
}

#[test]
fn config_file_is_found_through_pgscope_config() {
    let file = toml_file("threads = 7\n");
    let path = file.path().to_string_lossy().into_owned();
    let config = load(&RunArgs::default(), &[("PGSCOPE_CONFIG", path.as_str())]);
    assert_eq!(config.threads, 7);
}

#[test]
fn config_flag_wins_over_pgscope_config() {
    let chosen = toml_file("threads = 7\n");
    let ignored = toml_file("threads = 9\n");
    let ignored_path = ignored.path().to_string_lossy().into_owned();
    let config = load(
        &with_file(&chosen),
        &[("PGSCOPE_CONFIG", ignored_path.as_str())],
    );
    assert_eq!(config.threads, 7);
}

/// Three distinct valid values per key: for the file, the environment and the flags.
const LAYERS: &[(&str, [&str; 3])] = &[
    (
        "listen",
        ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"],
    ),
    ("upstream", ["file-db", "env-db", "flag-db"]),
    (
        "admin",
        ["127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"],
    ),
    ("max_message_size", ["1MB", "2MB", "3MB"]),
    ("connect_timeout", ["1s", "2s", "3s"]),
    ("shutdown_grace", ["1s", "2s", "3s"]),
    ("handover_grace", ["4s", "5s", "6s"]),
    ("max_connections", ["1", "2", "3"]),
    ("threads", ["1001", "1002", "1003"]),
    ("log_level", ["error", "warn", "trace"]),
    ("log_format", ["json", "text", "json"]),
    ("admin_token", ["file-token", "env-token", "flag-token"]),
];

#[test]
fn flags_beat_environment_beats_file_beats_default_for_every_key() {
    for (key, [in_file, in_env, in_flag]) in LAYERS {
        let file = toml_file(&format!("{key} = {in_file:?}\n"));
        let name = env_name(key);
        let flag_name = flag(key);
        let path = file.path().to_string_lossy().into_owned();

        let from_file = load(&with_file(&file), &[]);
        let from_env = load(&RunArgs::default(), &[(name.as_str(), in_env)]);
        let from_flag = load(&flags(&[flag_name.as_str(), in_flag]), &[]);
        assert_ne!(from_file, Config::default(), "{key}: file value ignored");
        assert_ne!(from_file, from_env, "{key}");
        assert_ne!(from_env, from_flag, "{key}");

        let file_and_env = load(&with_file(&file), &[(name.as_str(), in_env)]);
        assert_eq!(file_and_env, from_env, "{key}: environment must beat file");

        let all = flags(&["--config", path.as_str(), flag_name.as_str(), in_flag]);
        let all = load(&all, &[(name.as_str(), in_env)]);
        assert_eq!(all, from_flag, "{key}: flag must beat environment and file");
    }
}

#[test]
fn unset_keys_keep_defaults_beside_set_ones() {
    let config = load(&flags(&["--threads", "2"]), &[]);
    assert_eq!(
        config,
        Config {
            threads: 2,
            ..Config::default()
        }
    );
}

#[test]
fn reserved_and_foreign_variables_are_ignored() {
    let config = load(
        &RunArgs::default(),
        &[
            ("PGSCOPE_BIN", "/x/pgscope"),
            ("PGSCOPE_PG_BIN", "/usr/lib/postgresql/15/bin"),
            ("PGSCOPE_VENV", "/tmp/venv"),
            ("PGSCOPE_TEST_ANYTHING", "1"),
            ("PGSCOPEX", "1"),
            ("HOME", "/root"),
        ],
    );
    assert_eq!(config, Config::default());
}
