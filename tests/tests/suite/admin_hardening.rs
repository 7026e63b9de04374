//! The admin HTTP server under hostile requests, against the real binary: malformed requests
//! carrying the bearer token never put it in the log (at any level); oversized requests get the
//! status line HTTP servers send (431, 414, 400), not a silent close; a request header or body
//! trickled in byte by byte is cut at the deadline with a 408; an idle connection is closed;
//! and `/healthz` keeps answering through all of it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pgscope_tests::{free_port, Proxy, ProxyEnv};

const TOKEN: &str = "s3cr3t-admin-token-5b1f0e";
/// The test-only deadline override (milliseconds) for both the header and the body deadline.
const DEADLINE_MS: &str = "1500";

/// A proxy (no upstream is ever contacted) whose admin API needs `TOKEN`, logging at debug.
fn start() -> (Proxy, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let env = ProxyEnv {
        remove: &["RUST_LOG"],
        set: &[("PGSCOPE_TEST_ADMIN_DEADLINE_MS", DEADLINE_MS)],
    };
    let proxy = Proxy::start_with_env(
        &format!("postgres://127.0.0.1:{}", free_port()),
        &[
            "--admin",
            &admin,
            "--admin-token",
            TOKEN,
            "--log-level",
            "debug",
        ],
        &env,
    );
    wait_for(&admin);
    (proxy, admin)
}

fn wait_for(admin: &str) {
    for _ in 0..200 {
        if TcpStream::connect(admin).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the admin API never listened on {admin}");
}

/// Sends `request` (from another thread, ignoring write errors: the server may answer and close
/// before reading it all) and returns everything the server sent until it closed, or until
/// `within` passed.
fn exchange(admin: &str, request: Vec<u8>, within: Duration) -> String {
    let mut stream = TcpStream::connect(admin).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    drop(stream);
    let _ = sender.join();
    String::from_utf8_lossy(&out).into_owned()
}

/// The status line of `reply`, or the whole reply if it has none.
fn status_line(reply: &str) -> &str {
    reply.lines().next().unwrap_or("")
}

fn auth() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// `/healthz` answers 200.
fn assert_healthy(admin: &str, proxy: &Proxy) {
    let reply = exchange(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        Duration::from_secs(5),
    );
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "/healthz after hostile requests: {reply:?}\nlog:\n{}",
        proxy.log()
    );
}

fn many_headers() -> Vec<u8> {
    let mut request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}", auth());
    for i in 0..1000 {
        request.push_str(&format!("X-Header-{i}: v\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

#[test]
fn oversized_and_malformed_requests_get_a_status_line_and_healthz_still_answers() {
    let (proxy, admin) = start();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("1000 header fields", many_headers(), "431"),
        (
            "a 100 KB URL",
            format!(
                "GET /api/v1/fingerprints?x={} HTTP/1.1\r\nHost: x\r\n{}\r\n",
                "a".repeat(100_000),
                auth()
            )
            .into_bytes(),
            "414",
        ),
        (
            "a negative Content-Length",
            format!(
                "POST /api/v1/reset HTTP/1.1\r\nHost: x\r\n{}Content-Length: -5\r\n\r\n",
                auth()
            )
            .into_bytes(),
            "400",
        ),
        (
            "a 1 MB header",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}X-Big: {}\r\n\r\n",
                auth(),
                "b".repeat(1 << 20)
            )
            .into_bytes(),
            "431",
        ),
        (
            "a body over 64 KiB",
            format!(
                "POST /api/v1/reset HTTP/1.1\r\nHost: x\r\n{}Content-Length: 100000\r\n\r\n{}",
                auth(),
                "c".repeat(100_000)
            )
            .into_bytes(),
            "413",
        ),
    ];
    for (what, request, status) in cases {
        let reply = exchange(&admin, request, Duration::from_secs(10));
        assert!(
            status_line(&reply).starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: expected {status}, got {:?}\nlog:\n{}",
            status_line(&reply),
            proxy.log()
        );
    }
    assert_healthy(&admin, &proxy);
}

#[test]
fn malformed_requests_never_write_the_bearer_token_to_the_log() {
    let (proxy, admin) = start();
    let a = auth();
    let requests = [
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{a}this is not a header\r\n\r\n"),
        format!("G(T /metrics HTTP/1.1\r\nHost: x\r\n{a}\r\n"),
        format!("GET /metrics HTTP/9.9\r\nHost: x\r\n{a}\r\n"),
        format!("GET /metrics\r\n{a}\r\n"),
        format!("GET /metrics HTTP/1.1\r\n{a}Host: x\r\nX-Bad\0: v\r\n\r\n"),
        format!("GET /metrics HTTP/1.1\r\n{a}Content-Length: 1, 2\r\n\r\n"),
        format!("GET /metrics HTTP/1.1\r\n{a}Transfer-Encoding: gzip\r\n\r\n"),
        format!(
            "GET /metrics HTTP/1.1\r\n{a}X-Big: {}\r\n\r\n",
            "d".repeat(300_000)
        ),
        // Valid, but with a wrong token and the right one: the 401/200 paths log nothing either.
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n".to_owned(),
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{a}\r\n"),
        // Trickled and then abandoned at the header deadline.
        format!("GET /metrics HTTP/1.1\r\n{a}"),
    ];
    for request in requests {
        let reply = exchange(&admin, request.into_bytes(), Duration::from_secs(5));
        assert!(
            reply.starts_with("HTTP/1.1 "),
            "no status line: {reply:?}\nlog:\n{}",
            proxy.log()
        );
    }
    assert_healthy(&admin, &proxy);
    let log = proxy.log();
    assert!(
        !log.contains(TOKEN),
        "the admin token is in the log:\n{log}"
    );
    assert!(
        log.contains("DEBUG"),
        "the log was not at debug level:\n{log}"
    );
}

#[test]
fn a_request_header_trickled_byte_by_byte_is_cut_at_the_deadline_with_408() {
    let (proxy, admin) = start();
    let mut stream = TcpStream::connect(&admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}X-Pad: {}\r\n\r\n",
        auth(),
        "p".repeat(200)
    );
    let started = Instant::now();
    let mut reply = Vec::new();
    for byte in request.as_bytes() {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !reply.is_empty() {
            break;
        }
        // Meanwhile, the admin API answers everyone else.
        if started.elapsed() < Duration::from_millis(400) {
            assert_healthy(&admin, &proxy);
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a trickled header was still open after 15 s\nlog:\n{}",
            proxy.log()
        );
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 408 "),
        "a trickled header got {reply:?} after {:?}\nlog:\n{}",
        started.elapsed(),
        proxy.log()
    );
    // The deadline is for the whole header, not for each byte.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    assert_healthy(&admin, &proxy);
}

#[test]
fn a_request_body_that_never_arrives_gets_408() {
    let (proxy, admin) = start();
    let started = Instant::now();
    let mut stream = TcpStream::connect(&admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /api/v1/reset HTTP/1.1\r\nHost: x\r\n{}Content-Length: 10\r\n\r\nab",
        auth()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 408 "),
        "a missing body got {reply:?}\nlog:\n{}",
        proxy.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    assert_healthy(&admin, &proxy);
}

#[test]
fn an_idle_connection_is_closed_without_a_reply_at_the_deadline() {
    let (proxy, admin) = start();
    let started = Instant::now();
    let mut stream = TcpStream::connect(&admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // One complete keep-alive request, then silence.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply:?}");
    assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an idle keep-alive connection was open for {:?}\nlog:\n{}",
        started.elapsed(),
        proxy.log()
    );
}
