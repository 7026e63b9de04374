//! A reload reaches the observers: `[tracing]` sampling switched from 0 to 1 on SIGHUP makes
//! spans arrive at an OTLP receiver, a raised `recorder.max_fingerprints` lets the recorder
//! hold more entries, new `[growth]` thresholds and interval show in the growth API, and a
//! lowered `max_fingerprints` (which would evict recorded entries) is reported as needing a
//! restart and changes nothing.

use std::process::{Child, Command};
use std::time::Duration;

use crate::otel::otlp::checks::{ARRIVAL, QUICK, SERVICE};
use crate::otel::otlp::receiver::Transport;
use crate::otel::otlp::Receiver;
use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{
    command_with_config, free_port, metric, output_within, psql_command, wait_for, write_config,
    Cluster, CLIENT_TIMEOUT,
};

fn hup(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `sql` through pgscope on `port`.
fn query(port: u16, sql: &str) {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = output_within(psql_command(&url).args(["-c", sql]), CLIENT_TIMEOUT);
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `[recorder]`, `[tracing]` and `[growth]` sections of the test's config file.
fn sections(receiver: &Receiver, max_fingerprints: usize, ratio: &str, growth: &str) -> String {
    format!(
        "[recorder]\nmax_fingerprints = {max_fingerprints}\n\n\
         [tracing]\nenabled = true\nendpoint = {:?}\nprotocol = {:?}\n\
         service_name = {SERVICE:?}\nsample_ratio = {ratio}\n\n[growth]\n{growth}",
        receiver.endpoint(),
        receiver.transport().protocol()
    )
}

/// The span texts (`db.query.text`) received so far that contain `marker`.
fn texts_with(receiver: &Receiver, marker: &str) -> Vec<String> {
    receiver
        .spans()
        .iter()
        .filter_map(|s| s.attributes().get("db.query.text").cloned())
        .filter(|text| text.contains(marker))
        .collect()
}

#[test]
fn sighup_switches_sampling_on_raises_recorder_limits_and_retunes_growth() {
    let cluster = Cluster::start();
    let receiver = Receiver::start(Transport::Http);
    let dir = tempfile::tempdir().unwrap();
    let (config, log) = (
        dir.path().join("pgscope.toml"),
        dir.path().join("pgscope.log"),
    );
    let port = free_port();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let growth_before = "interval = \"2s\"\nmin_growth = 1.5\n";
    write_config(
        &config,
        port,
        &admin_addr,
        cluster.port(),
        &sections(&receiver, 2, "0.0", growth_before),
    );
    let mut child = command_with_config(&config, &log, &[])
        .env(QUICK.0, QUICK.1)
        .spawn()
        .unwrap();
    let admin = AdminClient::new(&admin_addr, None);
    wait_for("pgscope did not start", || admin.get("/healthz").is_ok());

    // Sampling 0: no span; at most 2 entries, the others evicting each other.
    for i in 0..4 {
        query(port, &format!("SELECT {i} AS before_reload_{i}"));
    }
    wait_for("the recorder did not fill up", || {
        metric(&admin, "pgscope_recorder_evictions_total") >= Some(2.0)
    });
    assert_eq!(metric(&admin, "pgscope_recorder_entries"), Some(2.0));

    write_config(
        &config,
        port,
        &admin_addr,
        cluster.port(),
        &sections(
            &receiver,
            10,
            "1.0",
            "interval = \"3s\"\nmin_growth = 2.0\n",
        ),
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
    for change in [
        "tracing.sample_ratio 0.0 -> 1.0",
        "recorder.max_fingerprints 2 -> 10",
        "growth.min_growth 1.5 -> 2",
        "growth.interval 2s -> 3s",
    ] {
        assert!(line.contains(change), "{change} missing from: {line}");
    }
    assert!(!line.contains("needing a restart"), "{line}");

    // Sampling 1: every query gets its span; the recorder takes new entries without evicting.
    let evictions = metric(&admin, "pgscope_recorder_evictions_total");
    for i in 0..4 {
        query(port, &format!("SELECT {i} AS after_reload_{i}"));
    }
    receiver.wait_for(4, ARRIVAL, |s| {
        s.attributes()
            .get("db.query.text")
            .is_some_and(|t| t.contains("after_reload"))
    });
    assert!(
        texts_with(&receiver, "before_reload").is_empty(),
        "spans sampled before the reload: {:?}",
        texts_with(&receiver, "before_reload")
    );
    assert_eq!(metric(&admin, "pgscope_recorder_entries"), Some(6.0));
    assert_eq!(metric(&admin, "pgscope_recorder_max_entries"), Some(10.0));
    assert_eq!(
        metric(&admin, "pgscope_recorder_evictions_total"),
        evictions
    );

    // The growth API shows the new settings.
    let growth: serde_json::Value =
        serde_json::from_slice(&admin.get("/api/v1/growth").unwrap()).unwrap();
    assert_eq!(growth["interval_ms"], 3000, "{growth}");
    assert_eq!(growth["min_growth"], 2.0, "{growth}");

    // Lowering max_fingerprints would evict entries: reported as needing a restart, nothing
    // evicted (by the API this time).
    write_config(
        &config,
        port,
        &admin_addr,
        cluster.port(),
        &sections(&receiver, 3, "1.0", "interval = \"3s\"\nmin_growth = 2.0\n"),
    );
    let answer = String::from_utf8(admin.post("/api/v1/reload").unwrap()).unwrap();
    assert!(
        answer.contains("needing a restart: recorder.max_fingerprints"),
        "{answer}"
    );
    assert_eq!(metric(&admin, "pgscope_recorder_entries"), Some(6.0));
    assert_eq!(metric(&admin, "pgscope_recorder_max_entries"), Some(10.0));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a reload stopped pgscope"
    );
    let _ = child.kill();
    let _ = child.wait();
}
