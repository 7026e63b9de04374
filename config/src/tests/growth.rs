//! The `[growth]` section.

use std::time::Duration;

use super::{env_error, load, load_err, toml_file, with_file};
use crate::raw::{env_name, KEYS};
use crate::{GrowthConfig, RunArgs, Secret};

/// One value per growth key, all different from the defaults.
const SAMPLE: &[(&str, &str)] = &[
    ("growth.enabled", "false"),
    ("growth.interval", "5s"),
    ("growth.user", "pgscope_monitor"),
    ("growth.password", "s3cret"),
    ("growth.dsn", "postgres://mon:pw@db:5432"),
    ("growth.min_growth", "2"),
    ("growth.elasticity", "0.8"),
    ("growth.min_slowdown_ms", "2.5"),
    ("growth.query_timeout", "500ms"),
];

fn sample() -> GrowthConfig {
    GrowthConfig {
        enabled: false,
        interval: Duration::from_secs(5),
        user: "pgscope_monitor".to_owned(),
        password: Some(Secret::new("s3cret")),
        dsn: Some(Secret::new("postgres://mon:pw@db:5432")),
        min_growth: 2.0,
        elasticity: 0.8,
        min_slowdown_ms: 2.5,
        query_timeout: Duration::from_millis(500),
    }
}

#[test]
fn sample_covers_every_growth_key() {
    let sampled: Vec<&str> = SAMPLE.iter().map(|(key, _)| *key).collect();
    let section: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| k.starts_with("growth."))
        .collect();
    assert_eq!(sampled, section);
}

#[test]
fn growth_monitoring_is_on_by_default_every_minute_as_postgres() {
    let growth = load(&RunArgs::default(), &[]).growth;
    assert_eq!(growth, GrowthConfig::default());
    assert!(growth.enabled);
    assert_eq!(growth.interval, Duration::from_secs(60));
    assert_eq!(growth.user, "postgres");
    assert_eq!((growth.min_growth, growth.elasticity), (1.5, 0.5));
}

#[test]
fn growth_keys_are_read_from_the_file_and_the_environment() {
    let mut text = String::from("[growth]\n");
    for (key, value) in SAMPLE {
        let name = key.trim_start_matches("growth.");
        text.push_str(&format!("{name} = {value:?}\n"));
    }
    let file = toml_file(&text);
    assert_eq!(load(&with_file(&file), &[]).growth, sample());
    let names: Vec<(String, &str)> = SAMPLE.iter().map(|(k, v)| (env_name(k), *v)).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(load(&RunArgs::default(), &pairs).growth, sample());
}

#[test]
fn growth_thresholds_take_native_toml_numbers() {
    let file = toml_file("[growth]\nmin_growth = 3\nelasticity = 0.25\n");
    let growth = load(&with_file(&file), &[]).growth;
    assert_eq!((growth.min_growth, growth.elasticity), (3.0, 0.25));
}

#[test]
fn bad_growth_values_name_their_key() {
    let cases = [
        ("growth.interval", "500ms", "at least 1s"),
        ("growth.interval", "often", "at least 1s"),
        ("growth.user", "", "role name"),
        ("growth.dsn", "db:5432", "postgres://"),
        ("growth.min_growth", "1", "greater than 1"),
        ("growth.min_growth", "NaN", "greater than 1"),
        ("growth.elasticity", "0", "greater than 0"),
        ("growth.min_slowdown_ms", "-1", "0 or more"),
        ("growth.query_timeout", "0s", "greater than zero"),
    ];
    for (key, value, reason) in cases {
        let message = env_error(key, value);
        assert!(message.contains(key), "{message}");
        assert!(message.contains(reason), "{key}={value}: {message}");
    }
}

#[test]
fn secrets_of_the_growth_section_are_not_printed() {
    let debug = format!("{:?}", sample());
    assert!(
        !debug.contains("s3cret") && !debug.contains("mon:pw"),
        "{debug}"
    );
}

#[test]
fn unknown_growth_keys_are_rejected() {
    let file = toml_file("[growth]\nintervall = \"5s\"\n");
    let (_, message) = load_err(&with_file(&file), &[]);
    assert!(message.contains("growth.intervall"), "{message}");
}
