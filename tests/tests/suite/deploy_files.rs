//! The files in `deploy/` are checked by the tools that consume them, so a broken one fails
//! CI: the Prometheus rules by `promtool check rules` and their unit tests by `promtool test
//! rules` (both from Debian's `prometheus` package), the systemd unit by `systemd-analyze
//! verify` (which parses the unit without a running systemd, and fails on a missing
//! executable, so the unit is checked with its binary path pointed at the pgscope under test).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pgscope_tests::pgscope_bin;

/// The workspace's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
}

/// Runs `command`, panicking when it cannot start (the tool is missing); returns its output
/// with stdout and stderr joined.
fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().unwrap_or_else(|err| {
        panic!("cannot run {command:?} ({err}); scripts/install-deps.sh installs it")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn promtool_accepts_the_rules_file() {
    let rules = deploy_dir().join("prometheus/pgscope.rules.yml");
    let (output, text) = run(Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules));
    assert!(output.status.success(), "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_rules_unit_tests_pass_in_promtool() {
    let dir = deploy_dir().join("prometheus");
    let (output, text) = run(Command::new("promtool")
        .args(["test", "rules", "pgscope.rules.test.yml"])
        .current_dir(&dir));
    assert!(output.status.success(), "promtool test rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_rules_define_the_documented_alerts() {
    let rules = std::fs::read_to_string(deploy_dir().join("prometheus/pgscope.rules.yml")).unwrap();
    for needle in [
        "offset 1w",
        "pgscope_growth_flag",
        "pgscope_spans_dropped_total",
        "pgscope_upstream_connections_failed_total",
        "pgscope_upstream_tls_failures_total",
    ] {
        assert!(rules.contains(needle), "the rules do not use {needle}");
    }
}

#[test]
fn systemd_analyze_verifies_the_unit_without_warnings() {
    let unit = std::fs::read_to_string(deploy_dir().join("pgscope.service")).unwrap();
    let bin = pgscope_bin();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgscope.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/pgscope", &bin.display().to_string()),
    )
    .unwrap();
    let (output, text) = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    assert!(output.status.success(), "systemd-analyze verify:\n{text}");
    // Unknown keys and bad values are warnings ("…, ignoring.") with exit status 0.
    assert!(
        text.trim().is_empty(),
        "systemd-analyze verify warned:\n{text}"
    );
}

#[test]
fn the_unit_runs_the_config_file_and_reloads_with_sighup() {
    let unit = std::fs::read_to_string(deploy_dir().join("pgscope.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for line in [
        "Type=notify",
        "NotifyAccess=all",
        "ExecStart=/usr/local/bin/pgscope run --config /etc/pgscope/pgscope.toml",
        "ExecStartPre=/usr/local/bin/pgscope check-config --config /etc/pgscope/pgscope.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=pgscope",
    ] {
        assert!(lines.contains(&line), "the unit lacks {line:?}");
    }
    assert!(lines.iter().any(|l| l.starts_with("LimitNOFILE=")));
}
