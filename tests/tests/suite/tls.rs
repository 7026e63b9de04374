//! TLS to the upstream server: pgscope in front of a TLS-only cluster (`hostssl` SCRAM only,
//! `hostnossl` rejected), the shape of RDS with `rds.force_ssl`, reached with libpq's
//! `sslmode=verify-full`; every client works through it, and what they get is the server's.

use std::process::Command;

use pgscope_tests::{
    output_within, psql_command, python_ok, Proxy, TlsCluster, APP_PASSWORD, CLIENT_TIMEOUT,
};

/// Runs `SQL` as `app` through `port` with psql and the given extra connection options,
/// returning (success, stdout, stderr).
fn psql_app(port: u16, options: &str, sql: &str) -> (bool, String, String) {
    let url = format!(
        "postgres://{}@127.0.0.1:{port}/postgres?{options}",
        TlsCluster::USER
    );
    let mut command = psql_command(&url);
    command
        .args(["-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", APP_PASSWORD);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Whether the server sees the session's backend connection as TLS.
const BACKEND_SSL: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn a_plaintext_client_reaches_a_tls_only_server_through_verify_full() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    // Plaintext is rejected by the server itself.
    let (ok, _, err) = psql_app(server.port(), "sslmode=disable", "SELECT 1");
    assert!(!ok && err.contains("no encryption"), "{err}");

    let proxy = Proxy::start_with(&server.upstream("localhost", "verify-full", ""), &[]);
    // The client talks plaintext SCRAM to pgscope; pgscope strips SCRAM-SHA-256-PLUS, which
    // libpq would refuse on a plaintext connection.
    let (ok, out, err) = psql_app(proxy.port(), "sslmode=disable", BACKEND_SSL);
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out, "t");
    let (ok, _, err) = psql_app(proxy.port(), "sslmode=disable", "SELECT pg_sleep(0)");
    assert!(ok, "{err}");

    // A wrong password still gets the server's own error.
    let url = format!("postgres://app@127.0.0.1:{}/postgres", proxy.port());
    let mut command = psql_command(&url);
    command.args(["-c", "SELECT 1"]).env("PGPASSWORD", "wrong");
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("password authentication failed for user \"app\""),
        "{stderr}"
    );
}

#[test]
fn pgbench_runs_every_protocol_mode_over_a_verify_full_upstream() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let proxy = Proxy::start_with(&server.upstream("localhost", "verify-full", ""), &[]);
    let url = format!("postgres://app@127.0.0.1:{}/postgres", proxy.port());
    let pgbench = server.cluster.bin("pgbench");
    let run = |args: &[&str]| {
        let mut command = Command::new(&pgbench);
        command
            .args(args)
            .arg(&url)
            .env("PGPASSWORD", APP_PASSWORD)
            .env("PGSSLMODE", "disable");
        let output = output_within(&mut command, CLIENT_TIMEOUT);
        assert!(
            output.status.success(),
            "pgbench {args:?}: {}\nproxy log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            proxy.log()
        );
    };
    server.cluster.psql("GRANT CREATE ON SCHEMA public TO app");
    run(&["-i", "-q", "-s", "1"]);
    for mode in ["simple", "extended", "prepared"] {
        run(&["-M", mode, "-c", "2", "-t", "30", "-n"]);
    }
    // New connection per transaction: one TLS handshake upstream each time.
    run(&["-C", "-c", "2", "-t", "10", "-n", "-S"]);
}

#[tokio::test]
async fn tokio_postgres_and_cancel_work_over_a_tls_upstream() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let proxy = Proxy::start_with(&server.upstream("localhost", "verify-full", ""), &[]);
    let dsn = format!(
        "host=127.0.0.1 port={} user=app password='{APP_PASSWORD}' dbname=postgres",
        proxy.port()
    );
    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("{err:?}\nproxy log:\n{}", proxy.log()));
    let driver = tokio::spawn(connection);
    let row = client.query_one(BACKEND_SSL, &[]).await.unwrap();
    assert!(row.get::<_, bool>(0));
    // The cancel request is forwarded on a TLS connection too: the server accepts no other.
    let token = client.cancel_token();
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("{err:?}\nproxy log:\n{}", proxy.log()));
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), sleeper)
        .await
        .expect("the cancelled query still runs")
        .unwrap();
    let err = result.expect_err("pg_sleep(30) was not cancelled");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err:?}"
    );
    driver.abort();
}

#[test]
fn psycopg_connects_through_pgscope_to_the_tls_only_server() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let proxy = Proxy::start_with(&server.upstream("localhost", "verify-full", ""), &[]);
    let code = format!(
        "import psycopg\n\
         with psycopg.connect('host=127.0.0.1 port={} user=app dbname=postgres \
         sslmode=disable', password={APP_PASSWORD:?}) as conn:\n    \
         print(conn.execute({BACKEND_SSL:?}).fetchone()[0])\n",
        proxy.port()
    );
    let output = python_ok(
        &code,
        &format!(
            "proxy log:
{}",
            proxy.log()
        ),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "True");
}

#[test]
fn a_client_certificate_in_the_upstream_url_passes_cert_authentication() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let client = server.ca.client("client", TlsCluster::CERT_USER);
    let upstream = server.upstream(
        "localhost",
        "verify-full",
        &format!(
            "&sslcert={}&sslkey={}",
            client.cert.display(),
            client.key.display()
        ),
    );
    let proxy = Proxy::start_with(&upstream, &[]);
    let url = format!("postgres://certuser@127.0.0.1:{}/postgres", proxy.port());
    let mut command = psql_command(&url);
    command.args(["-A", "-t", "-c", "SELECT current_user"]);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    assert!(
        output.status.success(),
        "{}\nproxy log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        proxy.log()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "certuser");
    // Without the certificate the same role is refused by the server.
    let bare = Proxy::start_with(&server.upstream("localhost", "verify-full", ""), &[]);
    let url = format!("postgres://certuser@127.0.0.1:{}/postgres", bare.port());
    let output = output_within(psql_command(&url).args(["-c", "SELECT 1"]), CLIENT_TIMEOUT);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_growth_monitor_samples_the_tls_only_server_with_the_same_settings() {
    use pgscope::cli::report::client::AdminClient;
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    server.cluster.psql(
        "CREATE TABLE orders (id int PRIMARY KEY, note text); GRANT SELECT ON orders TO app; \
         INSERT INTO orders SELECT i, 'x' FROM generate_series(1, 500) i",
    );
    let admin = format!("127.0.0.1:{}", pgscope_tests::free_port());
    let proxy = Proxy::start_with_env(
        &server.upstream("localhost", "verify-full", ""),
        &["--admin", &admin],
        &pgscope_tests::ProxyEnv {
            remove: &[],
            set: &[
                ("PGSCOPE_GROWTH_INTERVAL", "1s"),
                ("PGSCOPE_RECORDER_WINDOW", "1s"),
            ],
        },
    );
    let (ok, _, err) = psql_app(
        proxy.port(),
        "sslmode=disable",
        "SELECT note FROM orders WHERE id = 7",
    );
    assert!(ok, "{err}");
    let client = AdminClient::new(&admin, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let report: serde_json::Value =
            serde_json::from_slice(&client.get("/api/v1/growth").unwrap()).unwrap();
        let postgres = report["databases"]
            .as_array()
            .and_then(|dbs| dbs.iter().find(|db| db["database"] == "postgres"))
            .cloned();
        if let Some(db) = postgres.filter(|db| db["ok"] == true && db["tables"] == 1) {
            assert_eq!(db["failures"], 0, "{db}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor never sampled orders over TLS: {report}\nproxy log:\n{}",
            proxy.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The monitor's own connection was TLS (the server accepts nothing else) and verified.
    assert_eq!(
        server.cluster.psql(
            "SELECT count(*) > 0 FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE application_name = 'pgscope-growth' AND ssl"
        ),
        "t"
    );
}

#[test]
fn sslmode_allow_retries_with_tls_when_the_server_refuses_plaintext() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let proxy = Proxy::start_with(
        &format!("postgres://localhost:{}/?sslmode=allow", server.port()),
        &[],
    );
    // The plaintext startup gets "no encryption" from pg_hba; pgscope tries again with TLS,
    // and the client sees none of the first attempt.
    let (ok, out, err) = psql_app(proxy.port(), "sslmode=disable", BACKEND_SSL);
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out, "t");
}

#[test]
fn sslrootcert_system_verifies_against_the_os_trust_store() {
    let server = TlsCluster::start(&["localhost", "127.0.0.1"]);
    // The test CA is not in the system's store, so verify-full (the default with `system`)
    // must refuse this server: proof that the OS roots, and only they, were used.
    let proxy = Proxy::start_with(
        &format!("postgres://localhost:{}/?sslrootcert=system", server.port()),
        &[],
    );
    let (ok, _, err) = psql_app(proxy.port(), "sslmode=disable", "SELECT 1");
    assert!(!ok, "a server outside the system trust store was accepted");
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}\nproxy log:\n{}",
        proxy.log()
    );
}
