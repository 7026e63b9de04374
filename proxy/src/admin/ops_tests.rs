//! The operational routes over a real [`Reloader`] reading a real file: `POST /api/v1/reload`,
//! the live token, the last reload in `/healthz`, `/readyz` without a token, daemon metrics.

use std::io::Write;
use std::sync::Arc;

use crate::shape::Shapes;
use pgscope_config::{Config, RunArgs};
use pgscope_exporters::MetricsOptions;

use super::tests::{error_of, get, json, send};
use super::{LiveSource, Operations, Router};
use crate::admission::Admission;
use crate::recorder::{Recorder, RecorderSettings};
use crate::reload::{Live, Reloader, Targets};
use crate::stats::ProxyStats;
use crate::tls::UpstreamConnector;

/// A router whose reloads read `file`.
struct Fixture {
    router: Router,
    file: tempfile::TempPath,
    admission: Arc<Admission>,
}

const START: &str = "upstream = \"127.0.0.1:1\"\nadmin_token = \"old\"\nmax_connections = 50\n";

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn fixture() -> Fixture {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(START.as_bytes()).unwrap();
    let file = file.into_temp_path();
    let args = RunArgs {
        config: Some(file.to_path_buf()),
        ..RunArgs::default()
    };
    let config = Config::load(&args).unwrap();
    let stats = Arc::new(ProxyStats::default());
    let upstream = config.upstream.clone().unwrap();
    let connector = UpstreamConnector::new(&upstream, config.connect_timeout).unwrap();
    let admission = Admission::new(50, 10, 1000, Arc::clone(&stats));
    let token = Arc::new(Live::new(Arc::new(config.admin_token.clone())));
    let reloader = Reloader::new(
        args,
        config,
        Targets {
            tls: None,
            connector: Arc::new(Live::new(Arc::new(connector))),
            admission: Arc::clone(&admission),
            log: None,
            admin_token: Arc::clone(&token),
            observers: None,
        },
        Arc::clone(&stats),
    );
    let source = Arc::new(LiveSource {
        recorder: Arc::new(Recorder::new(
            RecorderSettings::default(),
            Arc::new(Shapes::new(100, 4096)),
        )),
        stats,
        growth: Arc::new(crate::growth::GrowthState::default()),
        snapshots: crate::recorder::persist::SnapshotHealth::off(),
    });
    let ops = Operations {
        token,
        reloader: Some(Arc::new(reloader)),
        readiness: None,
        upgrading: false,
        capture: None,
    };
    Fixture {
        router: Router::new(source, MetricsOptions::default(), ops).unwrap(),
        file,
        admission,
    }
}

#[test]
fn reload_applies_the_changed_file_and_says_what_changed() {
    let f = fixture();
    write(
        &f.file,
        "upstream = \"127.0.0.1:1\"\nadmin_token = \"old\"\nmax_connections = 7\nadmin = \"127.0.0.1:1\"\n",
    );
    let reply = send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = json(&reply);
    assert_eq!(body["reloaded"], true);
    let summary = body["summary"].as_str().unwrap();
    assert!(summary.contains("max_connections 50 -> 7"), "{summary}");
    assert!(summary.contains("needing a restart: admin"), "{summary}");
    assert_eq!(f.admission.max_connections(), 7);
}

#[test]
fn reload_needs_the_token() {
    let f = fixture();
    write(&f.file, "upstream = \"127.0.0.1:1\"\nmax_connections = 7\n");
    for authorization in [None, Some("Bearer wrong")] {
        let reply = send(&f.router, "POST", "/api/v1/reload", authorization);
        assert_eq!(reply.status, 401);
    }
    assert_eq!(
        f.admission.max_connections(),
        50,
        "reloaded without the token"
    );
}

#[test]
fn a_changed_token_is_required_from_the_next_request() {
    let f = fixture();
    write(
        &f.file,
        "upstream = \"127.0.0.1:1\"\nadmin_token = \"new\"\n",
    );
    let reply = send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    assert_eq!(reply.status, 200);
    assert!(json(&reply)["summary"]
        .as_str()
        .unwrap()
        .contains("admin_token changed"));
    assert_eq!(
        send(&f.router, "GET", "/metrics", Some("Bearer old")).status,
        401
    );
    assert_eq!(
        send(&f.router, "GET", "/metrics", Some("Bearer new")).status,
        200
    );
}

#[test]
fn an_invalid_file_is_422_naming_the_key_and_changes_nothing() {
    let f = fixture();
    write(
        &f.file,
        "upstream = \"127.0.0.1:1\"\nadmin_token = \"new\"\nmax_connections = \"many\"\n",
    );
    let reply = send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    assert_eq!(reply.status, 422);
    let message = error_of(&reply);
    assert!(message.contains("nothing changed"), "{message}");
    assert!(message.contains("max_connections"), "{message}");
    assert_eq!(f.admission.max_connections(), 50);
    assert_eq!(
        send(&f.router, "GET", "/metrics", Some("Bearer old")).status,
        200,
        "the old token must stay in force"
    );
}

#[test]
fn an_unreadable_file_is_500_and_changes_nothing() {
    let f = fixture();
    std::fs::remove_file(&f.file).unwrap();
    let reply = send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    assert_eq!(reply.status, 500);
    assert!(error_of(&reply).contains("cannot read config file"));
    assert_eq!(f.admission.max_connections(), 50);
}

#[test]
fn healthz_shows_the_last_reload() {
    let f = fixture();
    assert_eq!(
        json(&get(&f.router, "/healthz"))["reload"],
        serde_json::Value::Null
    );

    write(
        &f.file,
        "upstream = \"127.0.0.1:1\"\nadmin_token = \"old\"\n",
    );
    send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    let last = json(&get(&f.router, "/healthz"))["reload"].clone();
    assert_eq!(last["ok"], true, "{last}");
    assert!(last["summary"]
        .as_str()
        .unwrap()
        .contains("max_connections"));
    assert!(last["at"].as_str().unwrap().ends_with('Z'));

    write(&f.file, "threads = \"lots\"\n");
    send(&f.router, "POST", "/api/v1/reload", Some("Bearer old"));
    let last = json(&get(&f.router, "/healthz"))["reload"].clone();
    assert_eq!(last["ok"], false, "{last}");
    assert!(
        last["error"].as_str().unwrap().contains("threads"),
        "{last}"
    );
    assert!(last.get("summary").is_none(), "{last}");
}

#[test]
fn probes_need_no_token() {
    let f = fixture();
    assert_eq!(get(&f.router, "/healthz").status, 200);
    // No readiness check in this fixture: not ready, but not refused for the token.
    assert_eq!(get(&f.router, "/readyz").status, 503);
    assert_eq!(
        send(&f.router, "GET", "/api/v1/reload", Some("Bearer old")).status,
        405
    );
}

#[test]
fn metrics_carry_build_info_and_process_metrics() {
    let f = fixture();
    let reply = send(&f.router, "GET", "/metrics", Some("Bearer old"));
    let text = String::from_utf8(reply.body).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.lines().any(|l| l.starts_with("pgscope_build_info{")
            && l.contains(&format!("version=\"{version}\""))
            && l.ends_with(" 1")),
        "{text}"
    );
    for name in [
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name}: {text}");
    }
}
