//! SIGHUP reloads the configuration: what can change live changes (log level, connection caps,
//! the upstream for new connections), open sessions stay where they are, keys that need a
//! restart are named, and a bad file changes nothing — and SIGHUP never stops pgscope.

use std::process::{Child, Command, Stdio};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{
    free_port, metric, output_within, psql_command, run_with_config, wait_for, write_config,
    Cluster, CLIENT_TIMEOUT,
};

fn hup(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `SELECT current_setting('port')` through pgscope: which cluster answered.
fn server_port(port: u16) -> String {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = output_within(
        psql_command(&url).args(["-A", "-t", "-c", "SELECT current_setting('port')"]),
        CLIENT_TIMEOUT,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn sighup_applies_live_settings_and_names_those_needing_a_restart() {
    let (a, b) = (Cluster::start(), Cluster::start());
    let dir = tempfile::tempdir().unwrap();
    let (config, log) = (
        dir.path().join("pgscope.toml"),
        dir.path().join("pgscope.log"),
    );
    let port = free_port();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    write_config(
        &config,
        port,
        &admin_addr,
        a.port(),
        "max_connections = 1\n",
    );
    let mut child = run_with_config(&config, &log, &[]);
    let admin = AdminClient::new(&admin_addr, None);
    wait_for("pgscope did not start", || admin.get("/healthz").is_ok());
    assert_eq!(server_port(port), a.port().to_string());

    // An open session on A, holding the only slot.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut open = psql_command(&url)
        .args(["-c", "SELECT pg_sleep(4)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the open session did not start on A", || {
        a.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)'") == "1"
    });

    // New upstream, more slots, debug logging, and a listen change that needs a restart.
    let other = free_port();
    write_config(
        &config,
        other,
        &admin_addr,
        b.port(),
        "max_connections = 3\nlog_level = \"debug\"\n",
    );
    hup(&child);
    wait_for("no reload line in the log", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("configuration reloaded")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap();
    assert!(
        line.contains(&format!("-> 127.0.0.1:{}", b.port())),
        "{line}"
    );
    assert!(line.contains("max_connections 1 -> 3"), "{line}");
    assert!(line.contains("log_level info -> debug"), "{line}");
    assert!(line.contains("needing a restart: listen"), "{line}");
    // New connections go to B (and get a slot although A's session holds one); A's session
    // goes on where it was.
    assert_eq!(server_port(port), b.port().to_string());
    assert!(open.wait().unwrap().success(), "the open session failed");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped pgscope"
    );
    // Debug logging is on now.
    wait_for("no debug line after the reload", || {
        std::fs::read_to_string(&log).unwrap().contains(" DEBUG ")
    });
    assert_eq!(metric(&admin, "pgscope_config_reloads_total"), Some(1.0));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_bad_file_on_reload_changes_nothing_and_is_counted() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, log) = (
        dir.path().join("pgscope.toml"),
        dir.path().join("pgscope.log"),
    );
    let port = free_port();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    write_config(&config, port, &admin_addr, cluster.port(), "");
    let mut child = run_with_config(&config, &log, &[]);
    let admin = AdminClient::new(&admin_addr, None);
    wait_for("pgscope did not start", || admin.get("/healthz").is_ok());
    write_config(
        &config,
        port,
        &admin_addr,
        cluster.port(),
        "max_connections = \"many\"\n",
    );
    hup(&child);
    wait_for("no reload failure in the log", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("configuration reload failed, nothing changed")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("for max_connections"), "{text}");
    wait_for("the failure was not counted", || {
        metric(&admin, "pgscope_config_reload_failures_total") == Some(1.0)
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped pgscope"
    );
    assert_eq!(server_port(port), cluster.port().to_string());
    let _ = child.kill();
    let _ = child.wait();
}
