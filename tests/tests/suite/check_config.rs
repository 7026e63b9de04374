//! `pgscope check-config` validates what `pgscope run` would load — the file, the `PGSCOPE_*`
//! environment, the TLS files they name — without starting anything: exit 0 and one summary
//! line on stdout, or a non-zero exit with an error naming the key.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use pgscope_tests::{pgscope_bin, TestCa};

/// Runs `pgscope check-config ARGS` with `env` set and no `PGSCOPE_*` from the machine.
fn check_config(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(pgscope_bin());
    command.arg("check-config").args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("PGSCOPE_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("cannot run pgscope: {err}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_valid_file_exits_zero_with_a_one_line_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "pgscope.toml",
        "listen = \"127.0.0.1:7432\"\nupstream = \"postgres://db.internal:5433\"\n\
         admin = \"127.0.0.1:9999\"\n[recorder]\nmax_fingerprints = 500\n",
    );
    let output = check_config(&["--config", &file], &[]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("configuration OK ({file})")),
        "{stdout}"
    );
    assert!(stdout.contains("127.0.0.1:7432 -> "), "{stdout}");
    assert!(stdout.contains("db.internal:5433"), "{stdout}");
    assert!(stdout.contains("admin 127.0.0.1:9999"), "{stdout}");
}

#[test]
fn an_invalid_value_fails_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "pgscope.toml",
        "[recorder]\nwindow = \"often\"\n",
    );
    let output = check_config(&["--config", &file], &[]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("recorder.window"), "{stderr}");
    assert!(stderr.contains(&file), "{stderr}");
}

#[test]
fn an_unknown_key_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pgscope.toml", "max_conections = 10\n");
    let output = check_config(&["--config", &file], &[]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("max_conections"), "{stderr}");
}

#[test]
fn the_environment_is_checked_as_run_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pgscope.toml", "log_level = \"info\"\n");
    let output = check_config(&["--config", &file], &[("PGSCOPE_MAX_CONNECTIONS", "many")]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("PGSCOPE_MAX_CONNECTIONS"), "{stderr}");
    // The file named by PGSCOPE_CONFIG is the one checked when --config is absent.
    let output = check_config(&[], &[("PGSCOPE_CONFIG", &file)]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains(&file), "{stdout}");
}

#[test]
fn a_missing_config_file_fails_naming_it() {
    let output = check_config(&["--config", "/nonexistent/pgscope.toml"], &[]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("/nonexistent/pgscope.toml"), "{stderr}");
}

#[test]
fn tls_files_are_read_and_a_mismatched_key_fails_naming_tls() {
    let ca = TestCa::new("check-config");
    let server = ca.server("server", &["localhost"]);
    let other = ca.server("other", &["localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        &format!(
            "[tls]\nmode = \"require\"\ncert = \"{}\"\nkey = \"{}\"\n",
            server.cert.display(),
            server.key.display()
        ),
    );
    let output = check_config(&["--config", &good], &[]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("client TLS require"), "{stdout}");

    let mismatched = write(
        dir.path(),
        "mismatched.toml",
        &format!(
            "[tls]\nmode = \"require\"\ncert = \"{}\"\nkey = \"{}\"\n",
            server.cert.display(),
            other.key.display()
        ),
    );
    let output = check_config(&["--config", &mismatched], &[]);
    let (_, stderr) = text(&output);
    assert!(
        !output.status.success(),
        "a key of another certificate was accepted"
    );
    assert!(stderr.contains("[tls]"), "{stderr}");
}

#[test]
fn an_unreadable_upstream_root_certificate_fails_naming_upstream() {
    let output = check_config(
        &[
            "--upstream",
            "postgres://db.internal:5432?sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
        ],
        &[],
    );
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("upstream"), "{stderr}");
    assert!(stderr.contains("/nonexistent/root.crt"), "{stderr}");
}

#[test]
fn addresses_in_use_are_not_bound_so_a_running_pgscope_does_not_fail_the_check() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = check_config(&["--listen", &addr, "--admin", &addr], &[]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("a throw-away local cluster"), "{stdout}");
}
