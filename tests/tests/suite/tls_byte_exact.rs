//! Byte-exactness over TLS: what a client receives through pgscope, with TLS on both sides,
//! equals what it receives from the server directly over TLS.
//!
//! Recording relays (as in `byte_exact.rs`) would only see ciphertext here, so the client is a
//! raw protocol client of the test's own over rustls: it runs the same script of messages once
//! straight to a TLS-only cluster and once through pgscope (client TLS to pgscope, pgscope
//! `verify-full` to the cluster) and records every byte it decrypts. The only difference allowed
//! is the content of `BackendKeyData`, which names a different backend each time.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use pgscope_protocol::encode::frontend as fe;
use pgscope_tests::{crypto_provider, root_store, Proxy, ProxyEnv, TestCa, TlsCluster};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Opens a TLS connection the way libpq does (`SSLRequest`, `S`, handshake), verifying the
/// server's certificate against `ca` for `localhost`.
async fn tls_connect(port: u16, ca: &Path) -> TlsStream<TcpStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(&fe::ssl_request()).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S", "the server on port {port} refused TLS");
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(root_store(ca))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap_or_else(|err| panic!("TLS to port {port}: {err}"))
}

/// Reads whole messages until a `ReadyForQuery`, returning every byte read.
async fn until_ready(stream: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).await.unwrap();
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        stream.read_exact(&mut body).await.unwrap();
        bytes.extend_from_slice(&header);
        if header[0] == b'K' {
            // The backend's pid and key differ between any two connections.
            body.iter_mut().for_each(|b| *b = 0);
        }
        bytes.extend_from_slice(&body);
        if header[0] == b'Z' {
            return bytes;
        }
    }
}

/// The script: each step is written whole, then answered up to `ReadyForQuery`.
fn script() -> Vec<Vec<Bytes>> {
    let series = "SELECT g, repeat('y', 200) FROM generate_series(1, 2000) g";
    vec![
        vec![fe::query(&format!(
            "SELECT 1 AS a, 'x'::text AS b; {series}"
        ))],
        vec![
            fe::parse("", "SELECT $1::int + 1", &[]),
            fe::bind("", "", &[Some(b"41")]),
            fe::describe(b'P', ""),
            fe::execute("", 0),
            fe::sync(),
        ],
        vec![
            fe::parse("s", "SELECT generate_series(1, 10)", &[]),
            fe::bind("p", "s", &[]),
            fe::execute("p", 3),
            fe::execute("p", 3),
            fe::sync(),
        ],
        vec![fe::query("SELECT 1/0")],
        vec![fe::query("")],
        vec![fe::query(
            "COPY (SELECT g FROM generate_series(1, 3000) g) TO STDOUT",
        )],
        vec![
            fe::parse("", "SELECT 1/0", &[]),
            fe::bind("", "", &[]),
            fe::execute("", 0),
            fe::parse("", "SELECT 2", &[]),
            fe::bind("", "", &[]),
            fe::execute("", 0),
            fe::sync(),
        ],
        vec![fe::query(
            "DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END $$",
        )],
    ]
}

/// Runs the script on a fresh connection to `port`, returning what the client received.
async fn run(port: u16, ca: &Path) -> Vec<Vec<u8>> {
    let mut stream = tls_connect(port, ca).await;
    stream
        .write_all(&fe::startup(
            (3, 0),
            &[("user", "postgres"), ("database", "postgres")],
        ))
        .await
        .unwrap();
    let mut received = vec![until_ready(&mut stream).await];
    for step in script() {
        for message in step {
            stream.write_all(&message).await.unwrap();
        }
        stream.flush().await.unwrap();
        received.push(until_ready(&mut stream).await);
    }
    stream.write_all(&fe::terminate()).await.unwrap();
    stream.shutdown().await.ok();
    received
}

#[tokio::test]
async fn what_a_tls_client_receives_through_pgscope_equals_direct_tls() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let proxy_ca = TestCa::new("pgscope byte-exact proxy CA");
    let identity = proxy_ca.server("proxy", &["localhost", "127.0.0.1"]);
    let cert = identity.cert.display().to_string();
    let key = identity.key.display().to_string();
    let proxy = Proxy::start_with_env(
        &server.upstream("localhost", "verify-full", ""),
        &[],
        &ProxyEnv {
            remove: &[],
            set: &[("PGSCOPE_TLS_CERT", &cert), ("PGSCOPE_TLS_KEY", &key)],
        },
    );
    let direct = run(server.port(), &server.ca.cert()).await;
    let proxied = run(proxy.port(), &proxy_ca.cert()).await;
    assert_eq!(direct.len(), proxied.len());
    for (step, (direct, proxied)) in direct.iter().zip(&proxied).enumerate() {
        assert!(
            direct == proxied,
            "step {step}: {} bytes direct, {} through pgscope; first difference at byte {:?}\n\
             proxy log:\n{}",
            direct.len(),
            proxied.len(),
            direct.iter().zip(proxied).position(|(a, b)| a != b),
            proxy.log()
        );
    }
    // The script really covered rows, errors, COPY, a notice, a suspended portal and an empty
    // query.
    let tags: Vec<u8> = direct.iter().flat_map(|bytes| tags(bytes)).collect();
    for tag in [b'D', b'E', b'd', b'N', b's', b'I'] {
        assert!(tags.contains(&tag), "no {:?} message", char::from(tag));
    }
}

/// The type byte of each message in `bytes` (whole messages, as [`until_ready`] returns them).
fn tags(mut bytes: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    while let [tag, a, b, c, d, ..] = *bytes {
        tags.push(tag);
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        bytes = &bytes[1 + len..];
    }
    tags
}
