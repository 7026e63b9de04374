//! The `[tracing]` section.

use std::time::Duration;

use super::{env_error, load, load_err, toml_file, with_file};
use crate::raw::{env_name, KEYS};
use crate::{OtlpProtocol, RunArgs, TracingConfig};

/// One value per tracing key, all different from the defaults.
const SAMPLE: &[(&str, &str)] = &[
    ("tracing.enabled", "true"),
    ("tracing.endpoint", "http://collector:4318"),
    ("tracing.protocol", "grpc"),
    ("tracing.service_name", "pgscope-eu"),
    ("tracing.sample_ratio", "0.25"),
    ("tracing.queue_size", "4096"),
    ("tracing.export_timeout", "3s"),
    ("tracing.shutdown_timeout", "750ms"),
];

fn sample() -> TracingConfig {
    TracingConfig {
        enabled: true,
        endpoint: Some("http://collector:4318".to_owned()),
        protocol: Some(OtlpProtocol::Grpc),
        service_name: Some("pgscope-eu".to_owned()),
        sample_ratio: Some(0.25),
        queue_size: Some(4096),
        export_timeout: Some(Duration::from_secs(3)),
        shutdown_timeout: Duration::from_millis(750),
    }
}

#[test]
fn sample_covers_every_tracing_key() {
    let sampled: Vec<&str> = SAMPLE.iter().map(|(key, _)| *key).collect();
    let section: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| k.starts_with("tracing."))
        .collect();
    assert_eq!(sampled, section);
}

#[test]
fn tracing_is_off_by_default_and_leaves_the_rest_to_otel_variables() {
    let tracing = load(&RunArgs::default(), &[]).tracing;
    assert_eq!(tracing, TracingConfig::default());
    assert!(!tracing.enabled);
    assert_eq!(tracing.endpoint, None);
    assert_eq!(tracing.protocol, None);
    assert_eq!(tracing.sample_ratio, None);
    assert_eq!(tracing.shutdown_timeout, Duration::from_secs(5));
}

#[test]
fn tracing_keys_are_read_from_a_section_of_the_file() {
    let mut text = String::from("[tracing]\n");
    for (key, value) in SAMPLE {
        let name = key.trim_start_matches("tracing.");
        text.push_str(&format!("{name} = {value:?}\n"));
    }
    let file = toml_file(&text);
    assert_eq!(load(&with_file(&file), &[]).tracing, sample());
}

#[test]
fn tracing_keys_take_native_toml_types() {
    let file = toml_file("[tracing]\nenabled = true\nsample_ratio = 0.01\nqueue_size = 64\n");
    let tracing = load(&with_file(&file), &[]).tracing;
    assert!(tracing.enabled);
    assert_eq!(tracing.sample_ratio, Some(0.01));
    assert_eq!(tracing.queue_size, Some(64));
    let whole = toml_file("[tracing]\nsample_ratio = 1\n");
    assert_eq!(
        load(&with_file(&whole), &[]).tracing.sample_ratio,
        Some(1.0)
    );
}

#[test]
fn tracing_keys_are_read_from_environment() {
    let names: Vec<(String, &str)> = SAMPLE.iter().map(|(k, v)| (env_name(k), *v)).collect();
    assert_eq!(names[0].0, "PGSCOPE_TRACING_ENABLED");
    let pairs: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(load(&RunArgs::default(), &pairs).tracing, sample());
}

#[test]
fn otel_variables_are_not_configuration_keys() {
    // They are read by the exporter; the config loader neither rejects nor interprets them.
    let tracing = load(
        &RunArgs::default(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ],
    )
    .tracing;
    assert_eq!(tracing, TracingConfig::default());
}

#[test]
fn bad_tracing_values_name_their_key() {
    let cases = [
        ("tracing.enabled", "perhaps", "expected true or false"),
        (
            "tracing.endpoint",
            "collector:4318",
            "http:// or https:// URL",
        ),
        (
            "tracing.endpoint",
            "http:///v1/traces",
            "http:// or https:// URL",
        ),
        (
            "tracing.protocol",
            "http/json",
            "\"http/protobuf\" or \"grpc\"",
        ),
        ("tracing.service_name", "  ", "non-empty name"),
        ("tracing.sample_ratio", "1.5", "from 0 to 1"),
        ("tracing.sample_ratio", "-0.1", "from 0 to 1"),
        ("tracing.sample_ratio", "half", "from 0 to 1"),
        ("tracing.queue_size", "0", "from 1 to 1048576"),
        ("tracing.queue_size", "2000000", "from 1 to 1048576"),
        ("tracing.export_timeout", "0s", "greater than zero"),
        ("tracing.shutdown_timeout", "soon", "duration"),
    ];
    for (key, value, reason) in cases {
        let message = env_error(key, value);
        assert!(message.contains(key), "{message}");
        assert!(message.contains(&env_name(key)), "{message}");
        assert!(message.contains(reason), "{key}={value}: {message}");
    }
}

#[test]
fn a_non_numeric_toml_ratio_is_rejected_with_the_file_named() {
    let file = toml_file("[tracing]\nsample_ratio = true\n");
    let (_, message) = load_err(&with_file(&file), &[]);
    assert!(message.contains("tracing.sample_ratio"), "{message}");
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn unknown_tracing_keys_are_rejected() {
    let file = toml_file("[tracing]\nsampler = \"always_on\"\n");
    let (_, message) = load_err(&with_file(&file), &[]);
    assert!(message.contains("tracing.sampler"), "{message}");
}
