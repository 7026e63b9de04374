//! Byte-exactness: for a mixed workload, the bytes leaving pgscope in each direction are exactly
//! the bytes that entered it.
//!
//! Two recording TCP relays sit on either side of pgscope: clients connect to relay A, which
//! forwards to pgscope; pgscope's upstream is relay B, which forwards to PostgreSQL. Each relay
//! records both directions of every connection. Then, connection by connection:
//! client→pgscope (A, up) must equal pgscope→server (B, up), and server→pgscope (B, down) must
//! equal pgscope→client (A, down). The only bytes pgscope may add or drop are its own answers
//! to `SSLRequest`/`GSSENCRequest` (the clients here use `sslmode=disable` and
//! `gssencmode=disable`, so there are none, and the test checks that too), its own upstream
//! `SSLRequest` under the default `sslmode=prefer` (answered `N` by this plaintext server), and
//! `Flush` after a pipelined `Execute` (the workload follows every `Execute` with `Sync`, so none).
//!
//! The workload: a tokio-postgres session (multi-statement simple queries, an empty query,
//! prepared statements, a pipelined batch, binary COPY in, text COPY out, errors in both
//! protocols, NOTICE, LISTEN/NOTIFY, a multi-megabyte result) and a psql session (simple
//! queries, NOTIFY, `\copy`, an error).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{future, pin_mut, TryStreamExt};
use pgscope_tests::{output_within, psql_command, Cluster, Proxy, CLIENT_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

/// Rows of the large result (about 6.6 MB with its 300-byte column).
const LARGE_ROWS: i64 = 20_000;
/// Rows sent with binary COPY FROM STDIN.
const COPY_ROWS: i32 = 3_000;

/// What one relayed connection carried.
#[derive(Debug, Default)]
struct Recording {
    /// Bytes from the connecting side to the target.
    up: Vec<u8>,
    /// Bytes from the target back to the connecting side.
    down: Vec<u8>,
    /// Directions that have reached end of stream (up, down).
    ended: [bool; 2],
}

type Shared = Arc<Mutex<Recording>>;

fn lock(recording: &Shared) -> std::sync::MutexGuard<'_, Recording> {
    recording.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP relay on a free loopback port that forwards every connection to `target` and records
/// both directions.
struct RecordingRelay {
    port: u16,
    connections: Arc<Mutex<Vec<Shared>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl RecordingRelay {
    async fn start(target: u16) -> RecordingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections: Arc<Mutex<Vec<Shared>>> = Arc::default();
        let list = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let outbound = TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap_or_else(|err| panic!("relay cannot reach port {target}: {err}"));
                inbound.set_nodelay(true).unwrap();
                outbound.set_nodelay(true).unwrap();
                let recording = Shared::default();
                list.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Arc::clone(&recording));
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::spawn(pipe(in_read, out_write, Arc::clone(&recording), 0));
                tokio::spawn(pipe(out_read, in_write, recording, 1));
            }
        });
        RecordingRelay {
            port,
            connections,
            accept,
        }
    }

    /// Waits until `count` connections were relayed and all of them ended in both directions,
    /// then returns what they carried as (up, down) pairs, in connection order.
    async fn finished(&self, count: usize, what: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let connections = self
                    .connections
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let done = connections.iter().all(|c| lock(c).ended == [true, true]);
                if connections.len() == count && done {
                    return connections
                        .iter()
                        .map(|c| {
                            let mut c = lock(c);
                            (std::mem::take(&mut c.up), std::mem::take(&mut c.down))
                        })
                        .collect();
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: expected {count} finished connections, have {} (ended: {:?})",
                    connections.len(),
                    connections
                        .iter()
                        .map(|c| lock(c).ended)
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RecordingRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to`, appending every byte to the recording's direction `dir` (0 up, 1
/// down); at end of stream (or an error) it half-closes `to` and marks the direction ended.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, recording: Shared, dir: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut rec = lock(&recording);
            let bytes = &buf[..n];
            if dir == 0 {
                rec.up.extend_from_slice(bytes);
            } else {
                rec.down.extend_from_slice(bytes);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    lock(&recording).ended[dir] = true;
}

/// Removes the `SSLRequest`/`GSSENCRequest` packets sent before a startup message, and the
/// one-byte `N` answer to each, returning how many there were.
fn strip_encryption_requests(up: &mut Vec<u8>, down: &mut Vec<u8>) -> usize {
    const SSL: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    const GSS: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
    let mut count = 0;
    while up.len() >= 8 && (up[..8] == SSL || up[..8] == GSS) {
        assert_eq!(down.first(), Some(&b'N'), "the request was not answered N");
        up.drain(..8);
        down.drain(..1);
        count += 1;
    }
    count
}

/// Panics, naming the first differing offset, unless `entered == left`.
fn assert_same_bytes(what: &str, entered: &[u8], left: &[u8]) {
    if entered == left {
        return;
    }
    let at = entered
        .iter()
        .zip(left)
        .position(|(a, b)| a != b)
        .unwrap_or(entered.len().min(left.len()));
    let window = |bytes: &[u8]| bytes[at.saturating_sub(16)..(at + 32).min(bytes.len())].to_vec();
    panic!(
        "{what}: {} bytes entered pgscope, {} left it; first difference at offset {at}:\n\
         entered …{:?}…\nleft    …{:?}…",
        entered.len(),
        left.len(),
        String::from_utf8_lossy(&window(entered)),
        String::from_utf8_lossy(&window(left)),
    );
}

/// The tokio-postgres part of the workload, against `url` (relay A).
async fn tokio_postgres_workload(url: &str) {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let (notices, mut notifications) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message? {
                AsyncMessage::Notification(n) => {
                    let _ = notices.send(format!("notify {} {}", n.channel(), n.payload()));
                }
                AsyncMessage::Notice(n) => {
                    let _ = notices.send(format!("notice {}", n.message()));
                }
                _ => {}
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });

    // Simple protocol: several statements per Query, with an empty one among them.
    client
        .batch_execute(
            "CREATE TABLE bx (id int PRIMARY KEY, body text); \
             INSERT INTO bx SELECT g, md5(g::text) FROM generate_series(1, 100) g; \
             UPDATE bx SET body = upper(body) WHERE id % 2 = 0",
        )
        .await
        .unwrap();
    let messages = client
        .simple_query("SELECT count(*) FROM bx; ; SELECT id, body FROM bx WHERE id < 4 ORDER BY id")
        .await
        .unwrap();
    let rows = messages
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(rows, 4);

    // Extended protocol: prepared once, executed many times, and a pipelined batch.
    let by_id = client
        .prepare("SELECT body FROM bx WHERE id = $1")
        .await
        .unwrap();
    for id in [1, 2, 50] {
        let row = client.query_one(&by_id, &[&id]).await.unwrap();
        assert_eq!(row.get::<_, String>(0).len(), 32);
    }
    let batch = (1..=30).map(|id| {
        let client = &client;
        let by_id = &by_id;
        async move { client.query_one(by_id, &[&id]).await }
    });
    assert_eq!(future::try_join_all(batch).await.unwrap().len(), 30);

    // COPY both ways.
    client
        .batch_execute("CREATE TABLE copied (id int4, label text)")
        .await
        .unwrap();
    let sink = client
        .copy_in("COPY copied FROM STDIN (FORMAT BINARY)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
    pin_mut!(writer);
    for id in 0..COPY_ROWS {
        let label = format!("label {id} ✓");
        writer.as_mut().write(&[&id, &label]).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), COPY_ROWS as u64);
    let stream = client.copy_out("COPY copied TO STDOUT").await.unwrap();
    let chunks: Vec<_> = stream.try_collect().await.unwrap();
    let copied: usize = chunks.iter().map(|c| c.len()).sum();
    assert!(copied > 30_000, "COPY TO STDOUT gave {copied} bytes");

    // Errors in both protocols, a NOTICE, and a notification to ourselves.
    let err = client.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    let err = client
        .query("SELECT $1::int4 / 0", &[&7])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    client
        .batch_execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$; LISTEN bytes_chan")
        .await
        .unwrap();
    client
        .execute("SELECT pg_notify('bytes_chan', 'payload ✓')", &[])
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), notifications.recv()).await;
        seen.push(next.ok().flatten().expect("notice or notification missing"));
    }
    assert_eq!(
        seen,
        ["notice hello from plpgsql", "notify bytes_chan payload ✓"]
    );

    // A large result.
    let rows = client
        .query(
            "SELECT g, repeat('x', 300) FROM generate_series(1, $1::int8) g",
            &[&LARGE_ROWS],
        )
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, LARGE_ROWS);

    drop(client);
    driver.await.unwrap().unwrap();
}

/// The psql part of the workload, against `url` (relay A).
fn psql_workload(url: &str) {
    let mut command = psql_command(url);
    command.args([
        "-c",
        "SELECT id, body FROM bx ORDER BY id LIMIT 10; SELECT 'two', 2",
        "-c",
        "LISTEN psql_chan; NOTIFY psql_chan, 'from psql'",
        "-c",
        "\\copy (SELECT * FROM copied ORDER BY id LIMIT 500) TO STDOUT",
        "-c",
        "SELECT 1/0",
        "-c",
        "SELECT 'after the error'",
    ]);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("division by zero"), "{stderr}");
    for expected in ["two", "from psql", "499\tlabel 499 ✓", "after the error"] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_leave_pgscope_exactly_as_they_entered_in_both_directions() {
    let cluster = Cluster::start();
    let to_server = RecordingRelay::start(cluster.port()).await;
    let proxy = Proxy::start_with(&format!("postgres://127.0.0.1:{}", to_server.port), &[]);
    let to_proxy = RecordingRelay::start(proxy.port()).await;

    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable&gssencmode=disable",
        to_proxy.port
    );
    // tokio-postgres has no GSS support, and sslmode=disable keeps it from asking for TLS.
    let tokio_url = url.replace("&gssencmode=disable", "");
    tokio_postgres_workload(&tokio_url).await;
    let psql_url = url.clone();
    tokio::task::spawn_blocking(move || psql_workload(&psql_url))
        .await
        .unwrap();

    let client_side = to_proxy.finished(2, "client ↔ pgscope").await;
    let server_side = to_server.finished(2, "pgscope ↔ server").await;
    // pgscope followed every message of the workload (it never lost the protocol's thread).
    let log = proxy.log();
    assert!(!log.contains("no longer observing"), "proxy log:\n{log}");
    for (i, ((mut client_up, mut client_down), (mut server_up, mut server_down))) in
        client_side.into_iter().zip(server_side).enumerate()
    {
        let stripped = strip_encryption_requests(&mut client_up, &mut client_down);
        assert_eq!(
            stripped, 0,
            "connection {i}: the client asked for encryption"
        );
        // pgscope's own upstream negotiation (libpq's default sslmode=prefer): one SSLRequest,
        // which this plaintext server answers N.
        let asked = strip_encryption_requests(&mut server_up, &mut server_down);
        assert_eq!(asked, 1, "connection {i}: pgscope's SSLRequest upstream");
        assert_same_bytes(
            &format!("connection {i}, client → server"),
            &client_up,
            &server_up,
        );
        assert_same_bytes(
            &format!("connection {i}, server → client"),
            &server_down,
            &client_down,
        );
        // The workload really went through: both directions carried its data.
        let (min_up, min_down) = if i == 0 {
            (COPY_ROWS as usize * 20, LARGE_ROWS as usize * 300)
        } else {
            (200, 10_000)
        };
        assert!(
            client_up.len() > min_up && client_down.len() > min_down,
            "connection {i}: only {} bytes up and {} down",
            client_up.len(),
            client_down.len()
        );
    }
}
