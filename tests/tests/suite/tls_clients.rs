//! TLS between clients and pgscope: pgscope answers `SSLRequest` with `S` and a handshake
//! (and PostgreSQL 17's direct TLS), refuses plaintext under `tls.mode = require`, and handles
//! SCRAM channel binding as the README says: it cannot span a proxy, so `SCRAM-SHA-256-PLUS` is
//! removed whenever the upstream is TLS, and a TLS client that would bind anyway
//! (`channel_binding=prefer`) gets a clear FATAL with a hint. Also: Unix-domain sockets on both
//! sides, mixed with TCP.

use std::path::Path;

use pgscope_tests::{
    output_within, psql_command, python_ok, Cluster, ClusterOptions, Issued, Proxy, ProxyEnv,
    TestCa, TlsCluster, APP_PASSWORD, CLIENT_TIMEOUT,
};

/// pgscope's own certificate for clients, from a CA of its own.
fn proxy_identity() -> (TestCa, Issued) {
    let ca = TestCa::new("pgscope test proxy CA");
    let identity = ca.server("proxy", &["localhost", "127.0.0.1"]);
    (ca, identity)
}

/// Starts pgscope in front of `upstream` with `[tls]` from `identity` and `mode`.
fn tls_proxy(upstream: &str, identity: &Issued, mode: &str) -> Proxy {
    let cert = identity.cert.display().to_string();
    let key = identity.key.display().to_string();
    Proxy::start_with_env(
        upstream,
        &[],
        &ProxyEnv {
            remove: &[],
            set: &[
                ("PGSCOPE_TLS_CERT", &cert),
                ("PGSCOPE_TLS_KEY", &key),
                ("PGSCOPE_TLS_MODE", mode),
            ],
        },
    )
}

/// psql as `user` with `PGPASSWORD=password` on `host:port` with extra libpq `options`;
/// returns (success, stdout, stderr).
fn psql(port: u16, user: &str, password: &str, options: &str, sql: &str) -> (bool, String, String) {
    let url = format!("postgres://{user}@localhost:{port}/postgres?{options}");
    let mut command = psql_command(&url);
    command
        .args(["-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A plaintext cluster where `app` authenticates with SCRAM.
fn scram_cluster() -> Cluster {
    let cluster = Cluster::start_with(ClusterOptions {
        hba: Some(vec![
            "local all postgres trust".to_owned(),
            "host all postgres 127.0.0.1/32 trust".to_owned(),
            "host all all 127.0.0.1/32 scram-sha-256".to_owned(),
            "host all all ::1/128 scram-sha-256".to_owned(),
        ]),
        ..ClusterOptions::default()
    });
    cluster.psql(&format!(
        "SET password_encryption = 'scram-sha-256'; CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'"
    ));
    cluster
}

fn verify_full(ca: &TestCa, extra: &str) -> String {
    format!(
        "sslmode=verify-full&sslrootcert={}{extra}",
        ca.cert().display()
    )
}

#[test]
fn a_verify_full_client_binds_channels_with_a_plaintext_scram_upstream() {
    let cluster = scram_cluster();
    let (ca, identity) = proxy_identity();
    let proxy = tls_proxy(
        &format!("postgres://127.0.0.1:{}/?sslmode=disable", cluster.port()),
        &identity,
        "allow",
    );
    // libpq's default channel_binding=prefer over TLS to pgscope: the plaintext server offers
    // no PLUS, so the client says it could bind (`y`), which a plaintext server accepts.
    let (ok, out, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, ""),
        "SELECT current_user",
    );
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out, "app");
    // The client's side really is TLS: a wrong root is refused by psql itself.
    let other = TestCa::new("unrelated CA");
    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&other, ""),
        "SELECT 1",
    );
    assert!(!ok && err.contains("certificate verify failed"), "{err}");
}

#[test]
fn channel_binding_over_tls_on_both_sides_disable_works_prefer_gets_a_hint_require_fails() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let (ca, identity) = proxy_identity();
    let proxy = tls_proxy(
        &server.upstream("localhost", "verify-full", ""),
        &identity,
        "allow",
    );
    let sql =
        "SELECT current_user || ' ' || (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())";

    let (ok, out, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, "&channel_binding=disable"),
        sql,
    );
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out, "app true");

    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, "&channel_binding=prefer"),
        sql,
    );
    assert!(!ok, "channel_binding=prefer connected");
    assert!(
        err.contains("FATAL:  pgscope: SCRAM channel binding cannot pass through a proxy")
            && err.contains("HINT:  Add channel_binding=disable to the connection URL"),
        "{err}"
    );

    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, "&channel_binding=require"),
        sql,
    );
    assert!(!ok, "channel_binding=require connected");
    assert!(err.contains("channel binding is required"), "{err}");

    // A plaintext client with the same TLS upstream needs nothing: PLUS is not offered to it.
    let (ok, out, err) = psql(proxy.port(), "app", APP_PASSWORD, "sslmode=disable", sql);
    assert!(ok, "{err}");
    assert_eq!(out, "app true");
}

#[test]
fn tls_mode_require_refuses_plaintext_with_28000_and_accepts_tls() {
    let cluster = scram_cluster();
    let (ca, identity) = proxy_identity();
    let proxy = tls_proxy(
        &format!("postgres://127.0.0.1:{}/?sslmode=disable", cluster.port()),
        &identity,
        "require",
    );
    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        "sslmode=disable",
        "SELECT 1",
    );
    assert!(!ok);
    assert!(err.contains("FATAL:  pgscope requires TLS"), "{err}");
    let (ok, out, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, ""),
        "SELECT 1",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1");
    // sslmode=prefer (libpq's default) simply uses TLS.
    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        "sslmode=prefer",
        "SELECT 1",
    );
    assert!(ok, "{err}");
}

#[test]
fn a_libpq_17_client_connects_with_direct_tls_negotiation() {
    let cluster = scram_cluster();
    let (ca, identity) = proxy_identity();
    let proxy = tls_proxy(
        &format!("postgres://127.0.0.1:{}/?sslmode=disable", cluster.port()),
        &identity,
        "require",
    );
    let code = format!(
        "import psycopg\n\
         assert psycopg.pq.version() >= 170000, psycopg.pq.version()\n\
         with psycopg.connect('host=localhost port={} user=app dbname=postgres \
         sslmode=verify-full sslnegotiation=direct sslrootcert={}', password={APP_PASSWORD:?}) as conn:\n    \
         print(conn.pgconn.ssl_in_use, conn.execute('SELECT 41 + 1').fetchone()[0])\n",
        proxy.port(),
        ca.cert().display()
    );
    let output = python_ok(
        &code,
        &format!(
            "proxy log:
{}",
            proxy.log()
        ),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "True 42");
}

#[test]
fn a_direct_tls_upstream_chain_works_pgscope_to_pgscope() {
    // pgscope B terminates TLS for clients; pgscope A reaches B with sslnegotiation=direct,
    // the negotiation PostgreSQL 17 servers accept.
    let cluster = scram_cluster();
    let (ca, identity) = proxy_identity();
    let inner = tls_proxy(
        &format!("postgres://127.0.0.1:{}/?sslmode=disable", cluster.port()),
        &identity,
        "require",
    );
    let outer = Proxy::start_with(
        &format!(
            "postgres://localhost:{}/?{}",
            inner.port(),
            verify_full(&ca, "&sslnegotiation=direct")
        ),
        &[],
    );
    let (ok, out, err) = psql(
        outer.port(),
        "app",
        APP_PASSWORD,
        "sslmode=disable",
        "SELECT 7",
    );
    assert!(
        ok,
        "{err}\nouter log:\n{}\ninner log:\n{}",
        outer.log(),
        inner.log()
    );
    assert_eq!(out, "7");
}

#[test]
fn unix_sockets_work_on_both_sides_and_alongside_tcp() {
    let cluster = Cluster::start();
    let socket_dir = cluster.local().socket_dir().display().to_string();
    let listen_dir = tempfile::tempdir().unwrap();
    let port = pgscope_tests::free_port();
    let listen = format!("127.0.0.1:{port},{}", listen_dir.path().display());
    let upstream = format!("postgres:///?host={}&port={}", socket_dir, cluster.port());
    let proxy = Proxy::start_with(&upstream, &["--listen", &listen]);
    let socket = listen_dir.path().join(format!(".s.PGSQL.{port}"));
    assert!(socket_exists(&socket), "no socket at {}", socket.display());
    // psql through the socket directory (libpq finds .s.PGSQL.PORT), then through TCP.
    for host in [
        listen_dir.path().display().to_string(),
        "127.0.0.1".to_owned(),
    ] {
        let url = format!("postgresql://postgres@/postgres?host={host}&port={port}");
        let output = output_within(
            psql_command(&url).args(["-A", "-t", "-c", "SELECT inet_client_addr() IS NULL"]),
            CLIENT_TIMEOUT,
        );
        assert!(
            output.status.success(),
            "{host}: {}\nproxy log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            proxy.log()
        );
        // The server sees a Unix-socket client (no client address): pgscope's own connection.
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "t",
            "{host}"
        );
    }
}

fn socket_exists(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

#[test]
fn with_a_client_ca_only_clients_with_its_certificates_get_in() {
    let cluster = scram_cluster();
    let (ca, identity) = proxy_identity();
    let client = ca.client("client", "app");
    let cert = identity.cert.display().to_string();
    let key = identity.key.display().to_string();
    let client_ca = ca.cert().display().to_string();
    let proxy = Proxy::start_with_env(
        &format!("postgres://127.0.0.1:{}/?sslmode=disable", cluster.port()),
        &[],
        &ProxyEnv {
            remove: &[],
            set: &[
                ("PGSCOPE_TLS_CERT", &cert),
                ("PGSCOPE_TLS_KEY", &key),
                ("PGSCOPE_TLS_MODE", "require"),
                ("PGSCOPE_TLS_CLIENT_CA", &client_ca),
            ],
        },
    );
    let (ok, _, err) = psql(
        proxy.port(),
        "app",
        APP_PASSWORD,
        &verify_full(&ca, ""),
        "SELECT 1",
    );
    assert!(!ok, "a client without a certificate got in");
    assert!(err.contains("certificate"), "{err}");
    let with_cert = verify_full(
        &ca,
        &format!(
            "&sslcert={}&sslkey={}",
            client.cert.display(),
            client.key.display()
        ),
    );
    let (ok, out, err) = psql(proxy.port(), "app", APP_PASSWORD, &with_cert, "SELECT 1");
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out, "1");
    // A certificate from another CA is refused too.
    let stranger = TestCa::new("stranger CA").client("client", "app");
    let foreign = verify_full(
        &ca,
        &format!(
            "&sslcert={}&sslkey={}",
            stranger.cert.display(),
            stranger.key.display()
        ),
    );
    let (ok, _, _) = psql(proxy.port(), "app", APP_PASSWORD, &foreign, "SELECT 1");
    assert!(!ok, "a certificate from another CA got in");
}
