//! Who gets a connection when clients misbehave: half-open sockets in startup cannot lock real
//! clients out (they hold startup places, not session slots, and the oldest is evicted when
//! `max_startup_connections` is full), and past the open-file limit a client is refused at once
//! with FATAL 53300 while the admin API keeps answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{
    free_port, metric, output_within, psql_command, Cluster, Proxy, CLIENT_TIMEOUT,
};

/// A socket that has sent the first byte of a startup packet and then nothing.
fn half_open(port: u16) -> TcpStream {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.write_all(&[0]).unwrap();
    socket
}

fn select_one(port: u16) -> (bool, String) {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = output_within(
        psql_command(&url).args(["-A", "-t", "-c", "SELECT 1"]),
        CLIENT_TIMEOUT,
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits up to 10 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn half_open_clients_cannot_lock_real_clients_out() {
    let cluster = Cluster::start();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &[
            "--admin",
            &admin_addr,
            "--max-connections",
            "3",
            "--max-startup-connections",
            "5",
        ],
    );
    let admin = AdminClient::new(&admin_addr, None);
    // Twice as many drip-feeders as there are places in startup, and more than the sessions.
    let sockets: Vec<TcpStream> = (0..10).map(|_| half_open(proxy.port())).collect();
    // (The harness's own readiness probe came and went before them.)
    eventually("the drip-feeders did not fill the startup places", || {
        metric(&admin, "pgscope_client_connections_starting") == Some(5.0)
            && metric(&admin, "pgscope_startup_evictions_total") >= Some(5.0)
    });
    // Real clients still get in, each evicting the oldest half-open socket.
    for _ in 0..3 {
        let (ok, err) = select_one(proxy.port());
        assert!(
            ok,
            "a real client was locked out: {err}\nproxy log:\n{}",
            proxy.log()
        );
    }
    // The evicted sockets were closed without a word, as PostgreSQL closes a startup it gives up on.
    let mut evicted = sockets.into_iter().next().unwrap();
    evicted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    assert_eq!(evicted.read_to_end(&mut answer).unwrap(), 0, "{answer:?}");
}

#[test]
fn sessions_past_max_connections_get_53300_when_their_startup_packet_is_complete() {
    let cluster = Cluster::start();
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--max-connections", "1"],
    );
    // Hold the one session slot with an open psql.
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port());
    let mut holder = psql_command(&url)
        .args(["-c", "SELECT pg_sleep(3)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the first session never started", || {
        cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%'")
            == "1"
    });
    // A half-open socket does not take a session slot, so this refusal is about the session.
    let _half_open = half_open(proxy.port());
    let (ok, err) = select_one(proxy.port());
    assert!(!ok);
    assert!(
        err.contains("FATAL:  pgscope: sorry, too many clients already (max_connections reached)"),
        "{err}"
    );
    assert!(holder.wait().unwrap().success());
    let (ok, err) = select_one(proxy.port());
    assert!(ok, "the slot was not given back: {err}");
}

#[test]
fn past_the_open_file_limit_clients_get_53300_at_once_and_the_admin_api_answers() {
    let cluster = Cluster::start();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    // A hard limit of 100 descriptors: (100 - 64 reserved) / 2 = 18 client connections.
    let mut child = Command::new("prlimit")
        .args(["--nofile=100:100", "--"])
        .arg(pgscope_tests::pgscope_bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin",
            &admin_addr,
        ])
        .args([
            "--upstream",
            &format!("postgres://127.0.0.1:{}", cluster.port()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let admin = AdminClient::new(&admin_addr, None);
    eventually("pgscope did not start under prlimit", || {
        admin.get("/healthz").is_ok()
    });
    let sockets: Vec<TcpStream> = (0..18).map(|_| half_open(port)).collect();
    eventually("the 18 sockets were not all accepted", || {
        metric(&admin, "pgscope_client_connections_starting") == Some(18.0)
    });
    // The 19th is refused at once, with PostgreSQL's words.
    let mut refused = TcpStream::connect(("127.0.0.1", port)).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    refused.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("53300") && text.contains("open-file limit"),
        "{text:?}"
    );
    assert_eq!(metric(&admin, "pgscope_fd_limit_refusals_total"), Some(1.0));
    assert!(
        admin.get("/healthz").is_ok(),
        "the admin API stopped answering"
    );
    drop(sockets);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("open-file limit"),
        "no warning about the limit:\n{log}"
    );
}
