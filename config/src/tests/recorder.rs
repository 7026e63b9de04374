//! The `[recorder]` section and the admin token.

use std::path::PathBuf;
use std::time::Duration;

use super::{env_error, flags, load, toml_file, with_file};
use crate::raw::{env_name, KEYS};
use crate::{RecorderConfig, RunArgs};

/// One value per recorder key, all different from the defaults.
const SAMPLE: &[(&str, &str)] = &[
    ("recorder.enabled", "false"),
    ("recorder.max_fingerprints", "100"),
    ("recorder.max_query_text", "1KiB"),
    ("recorder.window", "10s"),
    ("recorder.windows", "30"),
    ("recorder.state_dir", "/var/lib/pgscope"),
    ("recorder.snapshot_interval", "5m"),
    ("recorder.top_k", "7"),
];

fn sample() -> RecorderConfig {
    RecorderConfig {
        enabled: false,
        max_fingerprints: 100,
        max_query_text: 1024,
        window: Duration::from_secs(10),
        windows: 30,
        state_dir: Some(PathBuf::from("/var/lib/pgscope")),
        snapshot_interval: Duration::from_secs(300),
        top_k: 7,
    }
}

#[test]
fn sample_covers_every_recorder_key() {
    let sampled: Vec<&str> = SAMPLE.iter().map(|(key, _)| *key).collect();
    let section: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| k.starts_with("recorder."))
        .collect();
    assert_eq!(sampled, section);
}

#[test]
fn recorder_defaults_match_the_design() {
    let config = load(&RunArgs::default(), &[]);
    let recorder = config.recorder;
    assert!(recorder.enabled);
    assert_eq!(recorder.max_fingerprints, 5000);
    assert_eq!(recorder.window, Duration::from_secs(60));
    assert_eq!(recorder.windows, 60);
    assert_eq!(recorder.state_dir, None);
    assert_eq!(config.admin_token, None);
}

#[test]
fn recorder_keys_are_read_from_a_section_of_the_file() {
    let mut text = String::from("[recorder]\n");
    for (key, value) in SAMPLE {
        let name = key.trim_start_matches("recorder.");
        text.push_str(&format!("{name} = {value:?}\n"));
    }
    let file = toml_file(&text);
    assert_eq!(load(&with_file(&file), &[]).recorder, sample());
}

#[test]
fn recorder_keys_take_native_toml_types() {
    let file = toml_file(
        "[recorder]\nenabled = false\nmax_fingerprints = 100\nmax_query_text = 1024\nwindows = 30\ntop_k = 7\n",
    );
    let recorder = load(&with_file(&file), &[]).recorder;
    assert!(!recorder.enabled);
    assert_eq!(
        (
            recorder.max_fingerprints,
            recorder.max_query_text,
            recorder.windows,
            recorder.top_k
        ),
        (100, 1024, 30, 7)
    );
}

#[test]
fn recorder_keys_are_read_from_environment() {
    let names: Vec<(String, &str)> = SAMPLE.iter().map(|(k, v)| (env_name(k), *v)).collect();
    assert_eq!(names[0].0, "PGSCOPE_RECORDER_ENABLED");
    let pairs: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(load(&RunArgs::default(), &pairs).recorder, sample());
}

#[test]
fn environment_beats_the_file_inside_a_section() {
    let file = toml_file("[recorder]\nwindows = 10\n");
    let config = load(&with_file(&file), &[("PGSCOPE_RECORDER_WINDOWS", "20")]);
    assert_eq!(config.recorder.windows, 20);
}

#[test]
fn admin_token_is_read_from_a_flag_and_never_debug_printed() {
    let config = load(&flags(&["--admin-token", "hunter2"]), &[]);
    let token = config.admin_token.as_ref().expect("a token");
    assert_eq!(token.expose(), "hunter2");
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn bad_recorder_values_name_their_key() {
    let cases = [
        ("recorder.enabled", "maybe", "expected true or false"),
        ("recorder.max_fingerprints", "0", "at least 1"),
        ("recorder.max_query_text", "8", "at least 16"),
        ("recorder.window", "0s", "at least 1ms"),
        ("recorder.window", "1500us", "whole milliseconds"),
        ("recorder.windows", "100000", "at most 1440"),
        ("recorder.snapshot_interval", "0s", "greater than zero"),
        ("recorder.state_dir", "", "non-empty path"),
        ("admin_token", "has space", "printable ASCII"),
    ];
    for (key, value, reason) in cases {
        let message = env_error(key, value);
        assert!(message.contains(key), "{message}");
        assert!(message.contains(&env_name(key)), "{message}");
        assert!(message.contains(reason), "{key}={value}: {message}");
    }
}

#[test]
fn unknown_recorder_keys_are_rejected() {
    let file = toml_file("[recorder]\nwindow_count = 3\n");
    let error = crate::Config::load_from(&with_file(&file), Vec::new()).unwrap_err();
    assert!(
        error.to_string().contains("recorder.window_count"),
        "{error}"
    );
}
