//! TLS and startup failures against real clusters and clients: wrong CA, hostname mismatch, a
//! server without TLS under `require`, garbage after `S`, clients that never finish startup or
//! their handshake, plaintext after SSLRequest, and a certificate swapped on disk then reloaded
//! by SIGHUP. Each reaches the client as PostgreSQL's own error (or silent close), is counted in
//! `/metrics`, and leaves pgscope serving everyone else.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{
    free_port, output_within, psql_command, python, Cluster, Proxy, ProxyEnv, TestCa, TlsCluster,
    APP_PASSWORD, CLIENT_TIMEOUT,
};

/// How long a raw client or a session waits for an answer before failing the test.
const WAIT: Duration = Duration::from_secs(10);
/// How often a trickling client sends a byte of its startup packet.
const TRICKLE: Duration = Duration::from_millis(300);

/// Polls `check` until it returns `None`; fails with its last complaint after [`WAIT`].
fn wait_until(mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + WAIT;
    while let Some(complaint) = check() {
        assert!(Instant::now() < deadline, "{complaint}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A proxy with its admin API on a port we know, and the environment variables `set`.
fn start(upstream: &str, extra: &[&str], set: &[(&str, &str)]) -> (Proxy, AdminClient) {
    let admin = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--admin", admin.as_str()];
    args.extend_from_slice(extra);
    let proxy = Proxy::start_with_env(upstream, &args, &ProxyEnv { set, remove: &[] });
    let client = AdminClient::new(&admin, None);
    wait_until(|| client.get("/healthz").err().map(|e| e.to_string()));
    (proxy, client)
}

/// A proxy with `[tls]` serving `cert` and `key` to its clients (`PGSCOPE_TLS_*`).
fn start_tls(upstream: &str, extra: &[&str], cert: &Path, key: &Path) -> (Proxy, AdminClient) {
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let set = [("PGSCOPE_TLS_CERT", &*c), ("PGSCOPE_TLS_KEY", &*k)];
    start(upstream, extra, &set)
}

/// Waits until the unlabelled counter `name` in `/metrics` reads `want` (a client can see its
/// answer, or hang up, a moment before pgscope counts what happened).
fn assert_metric(admin: &AdminClient, name: &str, want: f64) {
    wait_until(|| {
        let value = pgscope_tests::metric(admin, name);
        (value != Some(want)).then(|| format!("{name} is {value:?}, not {want}"))
    });
}

fn assert_running(proxy: &mut Proxy) {
    if let Some(status) = proxy.wait_exit(Duration::ZERO) {
        panic!("pgscope exited ({status}); its log:\n{}", proxy.log());
    }
}

fn wait_for_log(proxy: &Proxy, text: &str) {
    wait_until(|| {
        let log = proxy.log();
        (!log.contains(text)).then(|| format!("no {text:?} in the log:\n{log}"))
    });
}

/// psql `-c SQL` at `url` with `app`'s password: (success, stdout, stderr).
fn psql(url: &str, sql: &str) -> (bool, String, String) {
    let mut command = psql_command(url);
    command
        .args(["-A", "-t", "-c", sql])
        .env("PGPASSWORD", APP_PASSWORD);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// psql's output for `sql`, which must succeed.
fn psql_ok(url: &str, sql: &str, proxy: &Proxy) -> String {
    let (ok, out, err) = psql(url, sql);
    assert!(ok, "{url}: {err}\nproxy log:\n{}", proxy.log());
    out
}

/// psql's stderr for `sql`, which must fail.
fn psql_err(url: &str, sql: &str) -> String {
    let (ok, out, err) = psql(url, sql);
    assert!(!ok, "{url}: {sql} succeeded: {out}");
    err
}

/// pgscope at `port` over TLS, verifying its certificate for `localhost` with `ca`.
fn tls_url(port: u16, ca: &TestCa) -> String {
    let ca = ca.cert().display().to_string();
    format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}")
}

fn app_url(port: u16) -> String {
    format!("postgres://app@127.0.0.1:{port}/postgres?sslmode=disable")
}

/// A protocol 3.0 StartupMessage for `user`.
fn startup_packet(user: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for text in ["user", user, "database", "postgres", ""] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    let len = u32::try_from(body.len() + 4).unwrap();
    [&len.to_be_bytes()[..], &body].concat()
}

/// A raw socket to pgscope whose reads give up after [`WAIT`].
fn raw(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// The next message (tag, body), or `None` at end of stream.
fn read_message(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    if let Err(err) = stream.read_exact(&mut header) {
        assert_eq!(
            err.kind(),
            ErrorKind::UnexpectedEof,
            "reading a message: {err}"
        );
        return None;
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).unwrap();
    Some((header[0], body))
}

/// The fields of the ErrorResponse that `stream` reads next, by their one-letter codes.
fn next_error(stream: &mut TcpStream) -> HashMap<char, String> {
    let Some((b'E', body)) = read_message(stream) else {
        panic!("expected an ErrorResponse");
    };
    let mut fields = HashMap::new();
    for f in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        fields.insert(
            char::from(f[0]),
            String::from_utf8_lossy(&f[1..]).into_owned(),
        );
    }
    fields
}

/// Sends a StartupMessage as `user` to pgscope at `port` and checks the answer: one FATAL
/// 08006 naming `upstream` whose message contains `reason` (compared without case and spaces:
/// rustls versions spell `UnknownIssuer` either way), then end of stream.
fn assert_upstream_fatal(port: u16, user: &str, upstream: &str, reason: &str) {
    let mut stream = raw(port);
    stream.write_all(&startup_packet(user)).unwrap();
    let fields = next_error(&mut stream);
    let message = &fields[&'M'];
    let squash = |text: &str| text.to_lowercase().replace(' ', "");
    assert!(
        fields[&'S'] == "FATAL"
            && fields[&'C'] == "08006"
            && message.contains(&format!("upstream server {upstream}: "))
            && squash(message).contains(&squash(reason)),
        "want FATAL 08006 naming {upstream} and {reason:?}, got {fields:?}"
    );
    assert_eq!(read_message(&mut stream), None, "more after the FATAL");
}

/// A long-lived client: psycopg in a child process, one query per line of its stdin, one
/// line of output per query.
struct Session {
    child: Child,
    stdin: ChildStdin,
    out: mpsc::Receiver<String>,
}

const SESSION: &str = "import sys, psycopg\n\
conn = psycopg.connect(sys.argv[1], autocommit=True)\n\
print('connected', flush=True)\n\
for line in sys.stdin:\n    \
    try:\n        print(conn.execute(line).fetchone()[0], flush=True)\n    \
    except Exception as e:\n        print('error:', e, flush=True)\n";

impl Session {
    fn open(dsn: &str) -> Session {
        let mut child = Command::new(python())
            .args(["-c", SESSION, dsn])
            .env("PGPASSWORD", APP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run python: {err}"));
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (send, out) = mpsc::channel();
        thread::spawn(move || lines.map_while(Result::ok).try_for_each(|l| send.send(l)));
        let session = Session { child, stdin, out };
        assert_eq!(session.out.recv_timeout(WAIT).as_deref(), Ok("connected"));
        session
    }

    fn query(&mut self, sql: &str) -> String {
        writeln!(self.stdin, "{sql}").unwrap();
        self.stdin.flush().unwrap();
        self.out.recv_timeout(WAIT).expect("no answer")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_wrong_ca_gives_08006_naming_the_upstream_and_unknown_issuer_and_is_counted() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let other = TestCa::new("some other CA");
    let upstream = format!(
        "postgres://localhost:{}/?sslmode=verify-full&sslrootcert={}",
        server.port(),
        other.cert().display()
    );
    let (mut proxy, admin) = start(&upstream, &[], &[]);
    let label = format!("localhost:{}", server.port());
    let reason = "SSL handshake failed: invalid peer certificate: UnknownIssuer";
    assert_upstream_fatal(proxy.port(), "app", &label, reason);
    assert_metric(&admin, "pgscope_upstream_tls_failures_total", 1.0);
    // psql shows the same reason to its user.
    let err = psql_err(&app_url(proxy.port()), "SELECT 1");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert_metric(&admin, "pgscope_upstream_tls_failures_total", 2.0);
    // Logged once per burst, not once per client.
    let log = proxy.log();
    assert_eq!(log.matches("invalid peer certificate").count(), 1, "{log}");
    assert_running(&mut proxy);
}

#[test]
fn a_hostname_mismatch_fails_verify_full_but_passes_verify_ca() {
    let server = TlsCluster::start(&["other.example"]);
    let (mut strict, admin) = start(&server.upstream("127.0.0.1", "verify-full", ""), &[], &[]);
    let label = format!("127.0.0.1:{}", server.port());
    // rustls: "certificate not valid for name "127.0.0.1"" (NotValidForName).
    assert_upstream_fatal(strict.port(), "app", &label, "not valid for name");
    assert_metric(&admin, "pgscope_upstream_tls_failures_total", 1.0);
    assert_running(&mut strict);

    let (chain_only, _) = start(&server.upstream("127.0.0.1", "verify-ca", ""), &[], &[]);
    let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    assert_eq!(psql_ok(&app_url(chain_only.port()), sql, &chain_only), "t");
}

#[test]
fn a_server_without_tls_fails_require_but_serves_prefer_in_plaintext() {
    let cluster = Cluster::start();
    let plain = format!("postgres://127.0.0.1:{}/", cluster.port());
    let (mut required, admin) = start(&format!("{plain}?sslmode=require"), &[], &[]);
    let label = format!("127.0.0.1:{}", cluster.port());
    let reason = "server does not support SSL, but SSL was required";
    assert_upstream_fatal(required.port(), "postgres", &label, reason);
    assert_metric(&admin, "pgscope_upstream_tls_failures_total", 1.0);
    assert_running(&mut required);

    // prefer, the default and explicit: plaintext, as libpq falls back.
    for upstream in [plain.clone(), format!("{plain}?sslmode=prefer")] {
        let (proxy, admin) = start(&upstream, &[], &[]);
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port());
        let sql = "SELECT count(*) FROM pg_stat_ssl WHERE ssl";
        assert_eq!(psql_ok(&url, sql, &proxy), "0", "{upstream}: a TLS backend");
        assert_metric(&admin, "pgscope_upstream_tls_failures_total", 0.0);
    }
}

/// A fake upstream: while `garbage` is set it reads the SSLRequest, answers `S` and then bytes
/// that are no TLS record; otherwise it relays the connection to `real` byte for byte.
fn fake_upstream(real: u16, garbage: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut client in listener.incoming().map_while(Result::ok) {
            if garbage.load(Ordering::SeqCst) {
                let mut request = [0u8; 8];
                if client.read_exact(&mut request).is_ok() {
                    let _ = client.write_all(b"Sthis is not a TLS record at all\r\n");
                }
                continue;
            }
            let server = TcpStream::connect(("127.0.0.1", real)).unwrap();
            let there = (client.try_clone().unwrap(), server.try_clone().unwrap());
            for (mut from, mut to) in [there, (server, client)] {
                thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}

#[test]
fn garbage_after_s_gives_08006_and_pgscope_serves_on() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let garbage = Arc::new(AtomicBool::new(false));
    let port = fake_upstream(server.port(), Arc::clone(&garbage));
    let upstream = format!(
        "postgres://localhost:{port}/?sslmode=verify-full&sslrootcert={}",
        server.ca.cert().display()
    );
    let (mut proxy, admin) = start(&upstream, &[], &[]);
    let mut open = Session::open(&app_url(proxy.port()));
    assert_eq!(open.query("SELECT 1"), "1");

    garbage.store(true, Ordering::SeqCst);
    let label = format!("localhost:{port}");
    assert_upstream_fatal(proxy.port(), "app", &label, "SSL handshake failed");
    assert_metric(&admin, "pgscope_upstream_tls_failures_total", 1.0);

    garbage.store(false, Ordering::SeqCst);
    assert_running(&mut proxy);
    assert_eq!(open.query("SELECT 2"), "2");
    assert_eq!(psql_ok(&app_url(proxy.port()), "SELECT 3", &proxy), "3");
}

/// Reads until end of stream, returning what came; asserts that the end came at a 1 s startup
/// deadline counted from `opened` (not before it, and not much later).
fn read_to_deadline(stream: &mut TcpStream, opened: Instant) -> Vec<u8> {
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the connection was not closed within {WAIT:?}: {err}"),
    }
    assert_closed_at_deadline(opened.elapsed());
    got
}

fn assert_closed_at_deadline(after: Duration) {
    let expected = Duration::from_millis(950)..Duration::from_secs(8);
    assert!(expected.contains(&after), "closed after {after:?}");
}

#[test]
fn clients_that_never_finish_startup_are_closed_silently_at_startup_timeout() {
    let cluster = Cluster::start();
    let upstream = format!("postgres://127.0.0.1:{}", cluster.port());
    let (mut proxy, admin) = start(&upstream, &["--startup-timeout", "1s"], &[]);
    // A client that authenticated and idles is not affected by the startup deadline.
    let dsn = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port());
    let mut idle = Session::open(&dsn);

    // Silent: nothing sent, nothing answered (PostgreSQL closes silently too).
    let opened = Instant::now();
    let got = read_to_deadline(&mut raw(proxy.port()), opened);
    assert!(got.is_empty(), "pgscope answered a silent client: {got:?}");

    // Trickling: one byte every 300 ms; the deadline covers the whole startup, not each read.
    let packet = startup_packet("postgres");
    let opened = Instant::now();
    let mut trickle = raw(proxy.port());
    trickle.set_read_timeout(Some(TRICKLE)).unwrap();
    let mut sent = 0;
    loop {
        assert!(sent < packet.len() / 2, "{sent} bytes sent, still open");
        if trickle.write_all(&packet[sent..=sent]).is_err() {
            break;
        }
        sent += 1;
        let mut byte = [0u8; 1];
        match trickle.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => panic!("pgscope answered a partial startup packet: {byte:?}"),
            // Interrupted: a signal meant for another test of this one binary.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_closed_at_deadline(opened.elapsed());
    assert_metric(&admin, "pgscope_startup_timeouts_total", 2.0);

    // Well past its own deadline, the idle session still answers.
    assert_eq!(idle.query("SELECT 42"), "42");
    assert_metric(&admin, "pgscope_startup_timeouts_total", 2.0);
    assert_running(&mut proxy);
}

#[test]
fn a_stalled_handshake_is_closed_and_plaintext_after_sslrequest_gets_08p01() {
    let cluster = Cluster::start();
    let ca = TestCa::new("pgscope client-side CA");
    let issued = ca.server("pgscope", &["localhost", "127.0.0.1"]);
    let upstream = format!("postgres://127.0.0.1:{}", cluster.port());
    let timeout = ["--startup-timeout", "1s"];
    let (mut proxy, admin) = start_tls(&upstream, &timeout, &issued.cert, &issued.key);
    let ssl_request = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

    // SSLRequest, `S`, then no ClientHello: closed at the deadline.
    let opened = Instant::now();
    let mut stalled = raw(proxy.port());
    stalled.write_all(&ssl_request).unwrap();
    assert_eq!(read_to_deadline(&mut stalled, opened), b"S");
    assert_metric(&admin, "pgscope_startup_timeouts_total", 1.0);

    // SSLRequest and a plaintext StartupMessage in one write: `S`, then FATAL 08P01.
    let mut smuggler = raw(proxy.port());
    let bytes = [&ssl_request[..], &startup_packet("postgres")].concat();
    smuggler.write_all(&bytes).unwrap();
    let mut answer = [0u8; 1];
    smuggler.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"S");
    let fields = next_error(&mut smuggler);
    assert_eq!(fields[&'S'], "FATAL");
    assert_eq!(fields[&'C'], "08P01", "{fields:?}");
    assert_eq!(fields[&'M'], "received unencrypted data after SSL request");
    assert_eq!(read_message(&mut smuggler), None);

    // TLS clients are still served.
    assert_eq!(
        psql_ok(&tls_url(proxy.port(), &ca), "SELECT 1", &proxy),
        "1"
    );
    assert_running(&mut proxy);
}

/// Copies `issued`'s certificate and key over `dir/server.crt` and `dir/server.key`.
fn install(issued: &pgscope_tests::Issued, dir: &Path) {
    std::fs::copy(&issued.cert, dir.join("server.crt")).unwrap();
    std::fs::copy(&issued.key, dir.join("server.key")).unwrap();
}

#[test]
fn a_certificate_swapped_on_disk_is_served_after_sighup_and_open_connections_continue() {
    let cluster = Cluster::start();
    let (ca1, ca2) = (TestCa::new("pgscope CA one"), TestCa::new("pgscope CA two"));
    let names = ["localhost", "127.0.0.1"];
    let files = tempfile::tempdir().unwrap();
    install(&ca1.server("pgscope", &names), files.path());
    let cert = files.path().join("server.crt");
    let key = files.path().join("server.key");
    let upstream = format!("postgres://127.0.0.1:{}", cluster.port());
    let (mut proxy, admin) = start_tls(&upstream, &[], &cert, &key);
    let (port, pid) = (proxy.port(), proxy.pid().to_string());
    let trusting = |ca: &TestCa| tls_url(port, ca);
    let untrusted = "certificate verify failed";
    psql_ok(&trusting(&ca1), "SELECT 1", &proxy);
    assert!(psql_err(&trusting(&ca2), "SELECT 1").contains(untrusted));
    let mut open = Session::open(&trusting(&ca1));
    assert_eq!(open.query("SELECT 6"), "6");

    let sighup = || {
        let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(status.success(), "kill -HUP failed");
    };
    install(&ca2.server("pgscope", &names), files.path());
    sighup();
    wait_for_log(&proxy, "configuration reloaded");
    assert_running(&mut proxy);
    psql_ok(&trusting(&ca2), "SELECT 1", &proxy);
    assert!(psql_err(&trusting(&ca1), "SELECT 1").contains(untrusted));
    // The connection made with the old certificate carries on.
    assert_eq!(open.query("SELECT 7"), "7");

    // A broken certificate changes nothing: the one in force keeps being served.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    sighup();
    wait_for_log(&proxy, "configuration reload failed");
    assert!(proxy.log().contains("tls.cert"), "{}", proxy.log());
    assert_running(&mut proxy);
    psql_ok(&trusting(&ca2), "SELECT 1", &proxy);
    let mut late = Session::open(&trusting(&ca2));
    assert_eq!(late.query("SELECT 8"), "8");
    assert_eq!(open.query("SELECT 9"), "9");
    assert_metric(&admin, "pgscope_client_tls_failures_total", 2.0);
}
