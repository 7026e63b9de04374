//! Every kind of error, each naming the key (or variable, or file) and the source.

use super::{env_error, flags, load_err, toml_file, with_file};
use crate::raw::{env_name, KEYS};
use crate::{ConfigError, RunArgs, Source};

/// One invalid text value per key, with a fragment of the reason it must produce.
const INVALID: &[(&str, &str, &str)] = &[
    ("listen", "nowhere", "expected HOST:PORT"),
    (
        "upstream",
        "mysql://db:3306",
        "unsupported scheme \"mysql\"",
    ),
    ("admin", "127.0.0.1", "expected HOST:PORT"),
    ("max_message_size", "64XB", "expected a byte size"),
    ("pipeline_timing", "fast", "expected exact or batch"),
    ("connect_timeout", "5x", "expected a duration like \"5s\""),
    ("startup_timeout", "0s", "greater than zero"),
    ("shutdown_grace", "soon", "expected a duration"),
    ("handover_grace", "later", "expected a duration"),
    (
        "max_connections",
        "many",
        "expected a whole number of at least 1",
    ),
    (
        "max_startup_connections",
        "0",
        "expected a whole number of at least 1",
    ),
    ("threads", "2.5", "expected a whole number of at least 1"),
    ("log_level", "verbose", "expected one of error, warn, info"),
    ("log_format", "yaml", "expected text or json"),
    ("admin_token", "two words", "printable ASCII"),
    ("tls.cert", "", "non-empty path"),
    ("tls.key", "", "non-empty path"),
    ("tls.mode", "on", "expected disable, allow or require"),
    ("tls.client_ca", "", "non-empty path"),
    ("recorder.enabled", "maybe", "expected true or false"),
    ("recorder.max_fingerprints", "0", "at least 1"),
    ("recorder.max_query_text", "8", "at least 16"),
    ("recorder.window", "0s", "at least 1ms"),
    ("recorder.windows", "100000", "at most 1440"),
    ("recorder.state_dir", "", "non-empty path"),
    ("recorder.snapshot_interval", "0s", "greater than zero"),
    ("recorder.top_k", "none", "at least 1"),
    ("tracing.enabled", "perhaps", "expected true or false"),
    (
        "tracing.endpoint",
        "collector:4318",
        "http:// or https:// URL",
    ),
    (
        "tracing.protocol",
        "http/json",
        "\"http/protobuf\" or \"grpc\"",
    ),
    ("tracing.service_name", "", "non-empty name"),
    ("tracing.sample_ratio", "2", "from 0 to 1"),
    ("tracing.queue_size", "0", "from 1 to 1048576"),
    ("tracing.export_timeout", "0s", "greater than zero"),
    ("tracing.shutdown_timeout", "soon", "expected a duration"),
    ("growth.enabled", "sometimes", "expected true or false"),
    ("growth.interval", "100ms", "at least 1s"),
    ("growth.user", "", "role name"),
    ("growth.password", "", "non-empty password"),
    ("growth.dsn", "mysql://x", "postgres://"),
    ("growth.min_growth", "0.9", "greater than 1"),
    ("growth.elasticity", "-1", "greater than 0"),
    ("growth.min_slowdown_ms", "fast", "number of milliseconds"),
    ("growth.query_timeout", "0s", "greater than zero"),
    ("capture.enabled", "sometimes", "expected true or false"),
    ("capture.path", "", "non-empty path"),
    ("capture.directory", "", "non-empty path"),
    ("capture.duration", "0s", "greater than zero"),
    ("capture.max_bytes", "100", "at least 4096"),
    ("capture.rotate_bytes", "lots", "at least 4096"),
    ("capture.redact", "maybe", "expected true or false"),
    ("capture.database", "shop,", "list of names"),
    ("capture.user", ",", "list of names"),
    ("capture.application", " ", "list of names"),
];

#[test]
fn invalid_sample_covers_every_key() {
    let keys: Vec<&str> = INVALID.iter().map(|(key, _, _)| *key).collect();
    assert_eq!(keys, KEYS);
}

#[test]
fn bad_environment_value_names_key_and_variable() {
    let message = env_error("connect_timeout", "5x");
    assert_eq!(
        message,
        "invalid value \"5x\" for connect_timeout (from environment variable \
         PGSCOPE_CONNECT_TIMEOUT): expected a duration like \"5s\" or \"250ms\""
    );
    for (key, value, reason) in INVALID {
        let message = env_error(key, value);
        let expected = format!(
            "invalid value {value:?} for {key} (from environment variable {}): ",
            env_name(key)
        );
        assert!(message.starts_with(&expected), "{message}");
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn bad_flag_value_names_key_and_flag() {
    // Keys inside a section have no flag.
    for (key, value, reason) in INVALID.iter().filter(|(key, _, _)| !key.contains('.')) {
        let flag = format!("--{}", key.replace('_', "-"));
        let (err, message) = load_err(&flags(&[flag.as_str(), value]), &[]);
        let expected =
            format!("invalid value {value:?} for {key} (from command-line flag {flag}): ");
        assert!(message.starts_with(&expected), "{message}");
        assert!(message.contains(reason), "{message}");
        assert!(
            matches!(err, ConfigError::InvalidValue { origin: Source::Flag(f), .. } if f == flag)
        );
    }
}

#[test]
fn bad_file_value_names_key_and_file() {
    for (key, value, reason) in INVALID {
        let file = toml_file(&format!("{key} = {value:?}\n"));
        let (_, message) = load_err(&with_file(&file), &[]);
        let expected = format!(
            "invalid value {value:?} for {key} (from config file {}): ",
            file.path().display()
        );
        assert!(message.starts_with(&expected), "{message}");
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn wrong_toml_type_names_key_and_shows_value() {
    let cases = [
        (
            "listen = 6432",
            "invalid value 6432 for listen",
            "expected HOST:PORT",
        ),
        (
            "upstream = true",
            "invalid value true for upstream",
            "expected a string",
        ),
        (
            "connect_timeout = 5",
            "invalid value 5 for connect_timeout",
            "expected a duration",
        ),
        (
            "shutdown_grace = 1.5",
            "invalid value 1.5 for shutdown_grace",
            "expected a duration",
        ),
        (
            "threads = 1.5",
            "invalid value 1.5 for threads",
            "at least 1",
        ),
        (
            "max_connections = -1",
            "invalid value -1 for max_connections",
            "at least 1",
        ),
        (
            "max_message_size = -1",
            "invalid value -1 for max_message_size",
            "byte size",
        ),
        (
            "log_level = [\"info\"]",
            "invalid value [\"info\"] for log_level",
            "expected one of",
        ),
    ];
    for (line, start, reason) in cases {
        let file = toml_file(&format!("{line}\n"));
        let (_, message) = load_err(&with_file(&file), &[]);
        assert!(message.starts_with(start), "{line}: {message}");
        assert!(message.contains("(from config file "), "{line}: {message}");
        assert!(message.contains(reason), "{line}: {message}");
    }
}

#[test]
fn out_of_range_values_are_rejected() {
    let cases = [
        ("max_message_size", "1023", "must be at least 1KiB"),
        ("max_message_size", "1073741825", "must be at most 1GiB"),
        ("max_message_size", "2GiB", "must be at most 1GiB"),
        (
            "max_message_size",
            "99999999999999999999",
            "expected a byte size",
        ),
        ("connect_timeout", "0s", "must be greater than zero"),
        ("max_connections", "0", "at least 1"),
        ("threads", "0", "at least 1"),
    ];
    for (key, value, reason) in cases {
        let message = env_error(key, value);
        assert!(message.contains(&format!("for {key} ")), "{message}");
        assert!(message.contains(reason), "{key}={value}: {message}");
    }
}

#[test]
fn unknown_file_key_is_named_with_the_valid_keys() {
    let file = toml_file("listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n");
    let (err, message) = load_err(&with_file(&file), &[]);
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "listen_addr"));
    assert!(message.starts_with(&format!(
        "unknown key \"listen_addr\" in config file {}; valid keys are: listen, upstream, admin,",
        file.path().display()
    )));
    let last = KEYS.last().copied().unwrap_or_default();
    assert!(message.ends_with(last), "{message}");
}

#[test]
fn unknown_file_section_is_named() {
    let file = toml_file("[recorderr]\nenabled = true\n");
    let (err, _) = load_err(&with_file(&file), &[]);
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "recorderr"));
}

#[test]
fn table_for_a_plain_key_is_invalid() {
    let file = toml_file("[listen]\nhost = \"x\"\n");
    let (_, message) = load_err(&with_file(&file), &[]);
    assert!(
        message.contains("for listen (from config file "),
        "{message}"
    );
}

#[test]
fn unknown_pgscope_variable_is_named_with_the_valid_ones() {
    let (err, message) = load_err(&RunArgs::default(), &[("PGSCOPE_LISTN", "127.0.0.1:1")]);
    assert!(matches!(&err, ConfigError::UnknownEnv { name, .. } if name == "PGSCOPE_LISTN"));
    assert!(
        message.starts_with(
            "unknown environment variable PGSCOPE_LISTN; valid variables are: PGSCOPE_LISTEN, "
        ),
        "{message}"
    );
}

#[test]
fn missing_file_names_path_and_where_it_came_from() {
    let args = flags(&["--config", "/nonexistent/pgscope.toml"]);
    let (err, message) = load_err(&args, &[]);
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert!(
        message.starts_with(
            "cannot read config file /nonexistent/pgscope.toml (from command-line flag --config): "
        ),
        "{message}"
    );
    let (_, message) = load_err(
        &RunArgs::default(),
        &[("PGSCOPE_CONFIG", "/nonexistent/pgscope.toml")],
    );
    assert!(
        message.contains("(from environment variable PGSCOPE_CONFIG)"),
        "{message}"
    );
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let file = toml_file("listen = \"127.0.0.1:1\"\nthreads = = 3\n");
    let (err, message) = load_err(&with_file(&file), &[]);
    assert!(matches!(err, ConfigError::ParseFile { .. }));
    assert!(
        message.starts_with(&format!(
            "config file {} is not valid TOML: ",
            file.path().display()
        )),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn bad_value_in_a_lower_source_is_harmless_when_overridden() {
    let file = toml_file("threads = \"lots\"\n");
    let (_, message) = load_err(&with_file(&file), &[]);
    assert!(message.contains("for threads"), "{message}");
    let config = super::load(&with_file(&file), &[("PGSCOPE_THREADS", "2")]);
    assert_eq!(config.threads, 2);
}
