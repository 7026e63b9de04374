//! Failure behaviour, through real sockets and real servers: an unreachable upstream, a
//! malformed and an oversized client message, a client vanishing mid-query, and the upstream
//! dying mid-session (its backend terminated, or the whole server stopped). In each case the
//! client gets a PostgreSQL error rather than a reset or a hang, and pgscope keeps serving
//! every other connection.
//!
//! Some tests speak the protocol by hand ([`RawClient`]) so they can send what no client
//! library would, and see exactly which messages come back before the connection closes.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use pgscope_tests::{free_port, psql_at, psql_command, Cluster, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// How long a raw client waits for the next message before failing the test.
const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// A client speaking the wire protocol by hand (protocol 3.0, trust authentication).
struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    /// Connects to `port`, sends a StartupMessage and reads up to the first ReadyForQuery.
    async fn connect(port: u16, application_name: &str) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (name, value) in [
            ("user", "postgres"),
            ("database", "postgres"),
            ("application_name", application_name),
        ] {
            for text in [name, value] {
                body.extend_from_slice(text.as_bytes());
                body.push(0);
            }
        }
        body.push(0);
        let mut packet = u32::try_from(body.len() + 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        packet.extend_from_slice(&body);
        let mut client = RawClient {
            stream,
            buf: BytesMut::new(),
        };
        client.send(&packet).await.unwrap();
        loop {
            match client.next().await {
                Some((b'Z', _)) => return client,
                Some((b'E', body)) => panic!("startup failed: {:?}", error_fields(&body)),
                Some(_) => {}
                None => panic!("the connection closed during startup"),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Sends a simple Query.
    async fn query(&mut self, sql: &str) {
        let mut message = vec![b'Q'];
        message.extend_from_slice(&u32::try_from(sql.len() + 5).unwrap().to_be_bytes());
        message.extend_from_slice(sql.as_bytes());
        message.push(0);
        self.send(&message).await.unwrap();
    }

    /// The next whole message as (tag, body), or `None` at end of stream (or a reset).
    async fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                let total = 1 + len as usize;
                if self.buf.len() >= total {
                    let tag = self.buf[0];
                    let mut message = self.buf.split_to(total);
                    message.advance(5);
                    return Some((tag, message.to_vec()));
                }
            }
            let read = tokio::time::timeout(RAW_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .unwrap_or_else(|_| panic!("no message within {RAW_TIMEOUT:?}"));
            match read {
                Ok(0) | Err(_) => {
                    assert!(
                        self.buf.is_empty(),
                        "the stream ended inside a message: {:?}",
                        self.buf
                    );
                    return None;
                }
                Ok(_) => {}
            }
        }
    }

    /// Reads until the first ErrorResponse and returns its fields.
    async fn next_error(&mut self) -> HashMap<char, String> {
        loop {
            match self.next().await {
                Some((b'E', body)) => return error_fields(&body),
                Some(_) => {}
                None => panic!("the connection closed without an ErrorResponse"),
            }
        }
    }

    /// Reads to end of stream, returning the tags of the messages that came first.
    async fn rest(&mut self) -> Vec<char> {
        let mut tags = Vec::new();
        while let Some((tag, _)) = self.next().await {
            tags.push(char::from(tag));
        }
        tags
    }
}

/// The fields of an ErrorResponse/NoticeResponse body, by their one-letter codes.
fn error_fields(body: &[u8]) -> HashMap<char, String> {
    body.split(|b| *b == 0)
        .filter(|field| !field.is_empty())
        .map(|field| {
            (
                char::from(field[0]),
                String::from_utf8_lossy(&field[1..]).into_owned(),
            )
        })
        .collect()
}

/// Connects with tokio-postgres, driving the connection on its own task whose result is
/// returned too.
async fn connect(
    url: &str,
) -> (
    Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {url}: {err:?}"));
    (client, tokio::spawn(connection))
}

/// How many backends of `cluster` other than the asking one have `application_name = app`,
/// or a query containing `app` when `by_query` is set.
fn backends(cluster: &Cluster, app: &str, by_query: bool) -> u32 {
    let column = if by_query {
        "query"
    } else {
        "application_name"
    };
    cluster
        .psql(&format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE {column} LIKE '%{app}%' AND pid <> pg_backend_pid()"
        ))
        .parse()
        .unwrap()
}

/// Polls until `count()` returns `want`, failing (with the proxy's log) after `within`.
fn wait_until(
    what: &str,
    within: Duration,
    mut count: impl FnMut() -> u32,
    want: u32,
    proxy: &Proxy,
) {
    let start = Instant::now();
    loop {
        let now = count();
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{what}: still {now} (want {want}) after {within:?}; proxy log:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port that answers nothing: its listener never accepts, and its accept queue is
/// already full, so the kernel drops every new SYN and a connect attempt just waits.
struct SilentUpstream {
    port: u16,
    _listener: tokio::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl SilentUpstream {
    fn start() -> SilentUpstream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let probe = Duration::from_millis(200);
        let mut queued = Vec::new();
        while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, probe) {
            queued.push(stream);
            assert!(
                queued.len() < 16,
                "the accept queue of {addr} never fills up"
            );
        }
        SilentUpstream {
            port: addr.port(),
            _listener: listener,
            _queued: queued,
        }
    }
}

/// Panics unless the proxy process is still running.
fn assert_running(proxy: &mut Proxy) {
    if let Some(status) = proxy.wait_exit(Duration::ZERO) {
        panic!("pgscope exited ({status}); its log:\n{}", proxy.log());
    }
}

#[test]
fn psql_gets_a_fatal_error_naming_an_unreachable_upstream_at_once() {
    let closed = free_port();
    let upstream = format!("127.0.0.1:{closed}");
    let mut proxy = Proxy::start_with(&format!("postgres://{upstream}"), &[]);
    let started = Instant::now();
    let output = psql_at(&proxy.url(), &["-c", "SELECT 1"]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "psql connected to nothing");
    assert!(elapsed < Duration::from_secs(2), "psql took {elapsed:?}");
    assert!(stderr.contains("FATAL"), "{stderr}");
    assert!(
        stderr.contains(&upstream),
        "the error does not name {upstream}: {stderr}"
    );
    assert!(!stderr.contains("server closed the connection"), "{stderr}");
    assert_running(&mut proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_sees_08006_for_an_unreachable_or_silent_upstream() {
    // A closed port refuses at once; a silent one is cut by --connect-timeout.
    let silent = SilentUpstream::start();
    for (upstream, extra) in [
        (format!("127.0.0.1:{}", free_port()), vec![]),
        (
            format!("127.0.0.1:{}", silent.port),
            vec!["--connect-timeout", "500ms"],
        ),
    ] {
        let mut proxy = Proxy::start_with(&format!("postgres://{upstream}"), &extra);
        let started = Instant::now();
        let err = tokio_postgres::connect(&proxy.url(), NoTls)
            .await
            .err()
            .unwrap_or_else(|| panic!("connected through pgscope to {upstream}"));
        let elapsed = started.elapsed();
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{upstream}: not a server error: {err:?}"));
        assert_eq!(db.code(), &SqlState::CONNECTION_FAILURE, "{db:?}");
        assert_eq!(db.severity(), "FATAL");
        assert!(
            db.message().contains(&upstream),
            "{upstream}: {}",
            db.message()
        );
        assert!(
            elapsed < Duration::from_secs(2),
            "{upstream}: took {elapsed:?}"
        );
        assert_running(&mut proxy);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_shorter_than_its_length_field_gets_08p01_and_only_its_connection_closes() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    cluster.psql("CREATE TABLE survivors (id int)");
    let (other, _driver) = connect(&proxy.url()).await;
    other
        .batch_execute("BEGIN; INSERT INTO survivors VALUES (1)")
        .await
        .unwrap();

    let mut bad = RawClient::connect(proxy.port(), "malformed_client").await;
    assert_eq!(backends(&cluster, "malformed_client", false), 1);
    // A Query whose length field says 2: less than the 4 bytes of the length itself.
    bad.send(b"Q\0\0\0\x02").await.unwrap();
    let error = bad.next_error().await;
    assert_eq!(
        error.get(&'C').map(String::as_str),
        Some("08P01"),
        "{error:?}"
    );
    assert_eq!(
        error.get(&'S').map(String::as_str),
        Some("FATAL"),
        "{error:?}"
    );
    assert_eq!(
        bad.rest().await,
        Vec::<char>::new(),
        "messages after the FATAL"
    );
    // Its upstream connection is closed too: the backend goes away.
    wait_until(
        "backends of the malformed client",
        Duration::from_secs(5),
        || backends(&cluster, "malformed_client", false),
        0,
        &proxy,
    );

    // The connection opened before it, mid-transaction, is untouched.
    other
        .batch_execute("INSERT INTO survivors VALUES (2); COMMIT")
        .await
        .unwrap_or_else(|err| panic!("{err:?}\nproxy log:\n{}", proxy.log()));
    assert_eq!(
        cluster.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM survivors"),
        "1,2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_gets_08p01_and_only_its_connection_closes() {
    let cluster = Cluster::start();
    let proxy = Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--max-message-size", "1MiB"],
    );
    let (other, _driver) = connect(&proxy.url()).await;
    other.batch_execute("BEGIN").await.unwrap();

    // Just under the limit passes.
    let (client, _) = connect(&proxy.url()).await;
    let fits = format!("SELECT length('{}')", "x".repeat(1000 * 1024));
    let row = client.query_one(fits.as_str(), &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1000 * 1024);

    // A 2 MiB Query from a real client: refused with the FATAL error, and the connection ends.
    let huge = format!("SELECT length('{}')", "x".repeat(2 << 20));
    let err = client.simple_query(&huge).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::PROTOCOL_VIOLATION),
        "{err:?}\nproxy log:\n{}",
        proxy.log()
    );
    assert!(client.is_closed() || client.simple_query("SELECT 1").await.is_err());

    // The same by hand: only the 5-byte header of a 2 MiB message is needed for the refusal,
    // so pgscope decides before buffering (or even receiving) the body.
    let mut raw = RawClient::connect(proxy.port(), "oversized_client").await;
    let mut header = vec![b'Q'];
    header.extend_from_slice(&(2u32 << 20).to_be_bytes());
    raw.send(&header).await.unwrap();
    let error = raw.next_error().await;
    assert_eq!(
        error.get(&'C').map(String::as_str),
        Some("08P01"),
        "{error:?}"
    );
    assert_eq!(
        raw.rest().await,
        Vec::<char>::new(),
        "messages after the FATAL"
    );

    // The other connection is still inside the transaction it opened before.
    let row = other
        .query_one(
            "SELECT xact_start < statement_timestamp() FROM pg_stat_activity \
             WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("{err:?}\nproxy log:\n{}", proxy.log()));
    assert!(
        row.get::<_, bool>(0),
        "the other connection's transaction ended"
    );
    other.batch_execute("COMMIT").await.unwrap();
}

#[test]
fn a_client_killed_mid_query_has_its_backend_removed() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let mut psql = psql_command(&proxy.url());
    let mut psql = psql
        .args(["-c", "SELECT pg_sleep(30) /* vanishing client */"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the sleeping query",
        Duration::from_secs(10),
        || backends(&cluster, "vanishing client", true),
        1,
        &proxy,
    );
    psql.kill().unwrap(); // SIGKILL: the client gets no chance to say goodbye
    psql.wait().unwrap();
    // pg_sleep(30) does not read its socket: only a cancel (or the query's end) frees it.
    wait_until(
        "backends still running the vanished client's query",
        Duration::from_secs(5),
        || backends(&cluster, "vanishing client", true),
        0,
        &proxy,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_inside_a_transaction_has_its_backend_removed() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    cluster.psql("CREATE TABLE locked (id int)");
    let mut client = RawClient::connect(proxy.port(), "vanishing_tx").await;
    client
        .query("BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
        .await;
    while !matches!(client.next().await, Some((b'Z', _))) {}
    assert_eq!(backends(&cluster, "vanishing_tx", false), 1);
    drop(client);
    // Its upstream connection is closed, so the backend ends and its lock is released.
    wait_until(
        "backends of the vanished client",
        Duration::from_secs(5),
        || backends(&cluster, "vanishing_tx", false),
        0,
        &proxy,
    );
    assert_eq!(cluster.psql("SELECT count(*) FROM locked"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_reaches_the_client_as_the_servers_fatal_and_pgscope_serves_on() {
    let cluster = Cluster::start();
    let mut proxy = Proxy::start(&cluster);

    // Mid-query: the server's own FATAL 57P01 passes through, then the connection ends.
    let mut victim = RawClient::connect(proxy.port(), "victim_busy").await;
    victim.query("SELECT pg_sleep(30)").await;
    wait_until(
        "the victim's query",
        Duration::from_secs(10),
        || backends(&cluster, "pg_sleep(30)", true),
        1,
        &proxy,
    );
    let terminated = cluster.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'victim_busy'",
    );
    assert_eq!(terminated, "t");
    let started = Instant::now();
    let error = victim.next_error().await;
    assert_eq!(
        error.get(&'C').map(String::as_str),
        Some("57P01"),
        "{error:?}"
    );
    assert_eq!(
        error.get(&'M').map(String::as_str),
        Some("terminating connection due to administrator command")
    );
    let after = victim.rest().await;
    assert!(
        after.iter().all(|tag| *tag == 'E'),
        "after the FATAL: {after:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Idle: tokio-postgres's connection ends with the server's error.
    let (idle, driver) = connect(&format!("{}?application_name=victim_idle", proxy.url())).await;
    cluster.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'victim_idle'",
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the terminated connection did not end")
        .unwrap();
    let err = ended.expect_err("the connection ended without an error");
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    assert!(idle.simple_query("SELECT 1").await.is_err());

    // pgscope itself is fine: a new connection works.
    assert_running(&mut proxy);
    let (fresh, _) = connect(&proxy.url()).await;
    let row = fresh.query_one("SELECT 1 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
}

/// Runs `pg_ctl ARGS…` on `cluster`'s data directory as the user owning it (`postgres` when we
/// are root: PostgreSQL refuses to run as root).
fn pg_ctl(cluster: &Cluster, args: &[&str]) {
    use std::os::unix::fs::MetadataExt;
    let local = cluster.local();
    let owner = std::fs::metadata(local.data_dir()).unwrap().uid();
    let probe = tempfile::tempfile().unwrap();
    let us = probe.metadata().unwrap().uid();
    let pg_ctl = cluster.bin("pg_ctl");
    let mut command = if owner == us {
        Command::new(&pg_ctl)
    } else {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        runuser
    };
    command
        .arg("-D")
        .arg(local.data_dir())
        .args(args)
        .current_dir(local.socket_dir())
        .stdin(Stdio::null());
    let output = pgscope_tests::output_within(&mut command, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "pg_ctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_stopped_mid_query_gives_the_client_an_error_and_pgscope_serves_on() {
    let cluster = Cluster::start();
    let mut proxy = Proxy::start(&cluster);
    let (busy, _) = connect(&proxy.url()).await;
    let sleeper = tokio::spawn(async move { busy.simple_query("SELECT pg_sleep(30)").await });
    wait_until(
        "the sleeping query",
        Duration::from_secs(10),
        || backends(&cluster, "pg_sleep(30)", true),
        1,
        &proxy,
    );

    pg_ctl(&cluster, &["-m", "immediate", "-w", "stop"]);
    let result = tokio::time::timeout(Duration::from_secs(5), sleeper)
        .await
        .expect("the client hung after its server stopped")
        .unwrap();
    let err = result.expect_err("pg_sleep(30) succeeded on a stopped server");
    assert!(err.is_closed() || err.code().is_some(), "{err:?}");

    // pgscope is still up; while the server is down, new clients get 08006 …
    assert_running(&mut proxy);
    let err = tokio_postgres::connect(&proxy.url(), NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(&SqlState::CONNECTION_FAILURE), "{err:?}");

    // … and once it is back on the same port, they are served again.
    let log = cluster.local().log_path();
    let port = format!("-p {}", cluster.port());
    pg_ctl(
        &cluster,
        &["-l", &log.to_string_lossy(), "-w", "-o", &port, "start"],
    );
    let (fresh, _) = connect(&proxy.url()).await;
    let row = fresh.query_one("SELECT 40 + 2", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_running(&mut proxy);
}
