//! Replacing pgscope without failing a transaction: `pgscope run --upgrade` waits for the
//! running process's listening sockets; SIGQUIT makes the old one write a snapshot, hand the
//! sockets over, serve what it had accepted, drain and exit. A client opening a connection per
//! transaction (pgbench -C) and a pool (psycopg_pool, which checks connections before handing
//! them out) run through it all, and the new process's recorder carries on from the old one's.
//! Sessions the old process already had are served on as usual — an idle one, one in a
//! transaction — until their clients leave or `handover_grace` has passed; then an idle one
//! gets FATAL 57P01 and one in a transaction may finish it first.

use std::process::{Command, Stdio};
use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, python, run_with_config, wait_for_within, write_config, Cluster};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

fn calls(admin: &AdminClient) -> Option<u64> {
    let body = admin.get("/api/v1/fingerprints?limit=1").ok()?;
    serde_json::from_slice::<Value>(&body).ok()?["totals"]["calls"].as_u64()
}

#[test]
fn a_sigquit_handover_fails_no_transaction_and_the_recorder_carries_on() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE hits (n int); INSERT INTO hits VALUES (0)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pgscope.toml");
    let (port, admin_addr) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nadmin = \"{admin_addr}\"\nshutdown_grace = \"20s\"\n\
             upstream = \"postgres://127.0.0.1:{}/?sslmode=disable\"\n\
             [recorder]\nstate_dir = \"{}\"\n",
            cluster.port(),
            state.display()
        ),
    )
    .unwrap();
    let (old_log, new_log) = (dir.path().join("old.log"), dir.path().join("new.log"));
    let mut old = run_with_config(&config, &old_log, &[]);
    let admin = AdminClient::new(&admin_addr, None);
    wait_for_within(
        "the old pgscope did not start",
        Duration::from_secs(20),
        || admin.get("/healthz").is_ok(),
    );

    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    // A new connection per transaction, for 14 s, across the handover.
    let script = dir.path().join("hit.sql");
    std::fs::write(
        &script,
        "BEGIN;\nUPDATE hits SET n = n + 1;\nSELECT pg_sleep(0.02);\nCOMMIT;\n",
    )
    .unwrap();
    let pgbench = Command::new(cluster.bin("pgbench"))
        .args(["-n", "-C", "-c", "2", "-T", "14", "-f"])
        .arg(&script)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A pool that checks a connection before lending it, as pools in production do.
    let pool_code = format!(
        "import time\nfrom psycopg_pool import ConnectionPool\n\
         pool = ConnectionPool({url:?}, min_size=2, max_size=2, \
         check=ConnectionPool.check_connection, open=True)\n\
         errors, done, end = 0, 0, time.time() + 14\n\
         while time.time() < end:\n    \
         try:\n        \
         with pool.connection() as conn:\n            \
         conn.execute('SELECT pg_sleep(0.01)')\n        \
         done += 1\n    \
         except Exception as e:\n        \
         errors += 1\n        print('error', type(e).__name__, e)\n\
         print('done', done, 'errors', errors)\n"
    );
    let pool = Command::new(python())
        .args(["-c", &pool_code])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    std::thread::sleep(Duration::from_secs(3));
    let before = calls(&admin).expect("the old recorder answers");
    // The new process waits for the sockets; the old one hands them over on SIGQUIT.
    let mut new = run_with_config(&config, &new_log, &["--upgrade"]);
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-QUIT", &old.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The old process drains and exits 0 by itself.
    wait_for_within(
        "the old pgscope did not exit",
        Duration::from_secs(40),
        || old.try_wait().unwrap().is_some(),
    );
    assert!(
        old.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(&old_log).unwrap()
    );

    let pgbench = pgbench.wait_with_output().unwrap();
    let pgbench_out = String::from_utf8_lossy(&pgbench.stdout).into_owned();
    let logs = format!(
        "old log:\n{}\nnew log:\n{}",
        std::fs::read_to_string(&old_log).unwrap(),
        std::fs::read_to_string(&new_log).unwrap()
    );
    assert!(
        pgbench.status.success(),
        "pgbench failed: {pgbench_out}{}\n{logs}",
        String::from_utf8_lossy(&pgbench.stderr)
    );
    assert!(
        pgbench_out.contains("number of failed transactions: 0 "),
        "{pgbench_out}\n{logs}"
    );
    let pool = pool.wait_with_output().unwrap();
    let pool_out = String::from_utf8_lossy(&pool.stdout).into_owned();
    assert!(
        pool.status.success(),
        "{pool_out}{}",
        String::from_utf8_lossy(&pool.stderr)
    );
    assert!(
        pool_out.trim_end().ends_with("errors 0"),
        "{pool_out}\n{logs}"
    );
    let pooled: u64 = pool_out
        .split_whitespace()
        .skip_while(|w| *w != "done")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        pooled > 100,
        "the pool ran only {pooled} queries\n{pool_out}"
    );
    // Both processes served: the old one until the handover, then the new one.
    let committed: u64 = cluster.psql("SELECT n FROM hits").parse().unwrap();
    assert!(
        committed > 20,
        "only {committed} pgbench transactions committed"
    );
    assert!(
        logs.contains("SIGQUIT: handing the listening sockets"),
        "{logs}"
    );
    let new_clients = pgscope_tests::metric(&admin, "pgscope_client_connections_total");
    assert!(
        new_clients > Some(5.0),
        "the new process served {new_clients:?} clients\n{logs}"
    );

    // The new process serves, and its recorder started from the old one's snapshot.
    assert!(new.try_wait().unwrap().is_none(), "{logs}");
    let after = calls(&admin).expect("the new recorder answers");
    assert!(
        after >= before,
        "{after} calls after the handover, {before} before\n{logs}"
    );
    assert!(
        std::fs::read_to_string(&new_log)
            .unwrap()
            .contains("restored"),
        "the new process did not start from the snapshot\n{logs}"
    );
    let _ = new.kill();
    let _ = new.wait();
}

type Driver = JoinHandle<Result<(), tokio_postgres::Error>>;

async fn connect(url: &str) -> (Client, Driver) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {url}: {err:?}"));
    (client, tokio::spawn(connection))
}

/// How the connection driven by `driver` ended, waiting up to `within`.
async fn ended(driver: Driver, within: Duration, what: &str) -> tokio_postgres::Error {
    tokio::time::timeout(within, driver)
        .await
        .unwrap_or_else(|_| panic!("{what}: still open {within:?} later"))
        .unwrap()
        .expect_err("the connection ended without an error")
}

fn log_has(path: &std::path::Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|log| log.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_process_serves_its_sessions_until_handover_grace_then_drains_them() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE kept (n int)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pgscope.toml");
    let (port, admin_addr) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_config(
        &config,
        port,
        &admin_addr,
        cluster.port(),
        "handover_grace = \"12s\"\nshutdown_grace = \"20s\"\n",
    );
    let (old_log, new_log) = (dir.path().join("old.log"), dir.path().join("new.log"));
    let mut old = run_with_config(&config, &old_log, &[]);
    let admin = AdminClient::new(&admin_addr, None);
    wait_for_within(
        "the old pgscope did not start",
        Duration::from_secs(20),
        || admin.get("/healthz").is_ok(),
    );
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    // Four sessions of the old process: two idle after their startup, two in a transaction.
    let (idle, idle_driver) = connect(&url).await;
    let (idle_long, idle_long_driver) = connect(&url).await;
    let (in_tx, _in_tx_driver) = connect(&url).await;
    in_tx
        .batch_execute("BEGIN; INSERT INTO kept VALUES (1)")
        .await
        .unwrap();
    let (late_tx, late_tx_driver) = connect(&url).await;

    let mut new = run_with_config(&config, &new_log, &["--upgrade"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill")
        .args(["-QUIT", &old.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Past pingora's last accepts (5 s), where the drain used to start.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let logs = || {
        format!(
            "old log:\n{}\nnew log:\n{}",
            std::fs::read_to_string(&old_log).unwrap(),
            std::fs::read_to_string(&new_log).unwrap()
        )
    };
    assert!(old.try_wait().unwrap().is_none(), "{}", logs());
    // The idle session's first query, the transaction's next statement and its COMMIT: all
    // served by the old process, whose sessions these are.
    let one: i32 = idle
        .query_one("SELECT 1", &[])
        .await
        .unwrap_or_else(|err| panic!("the idle session failed: {err:?}\n{}", logs()))
        .get(0);
    assert_eq!(one, 1);
    in_tx
        .batch_execute("INSERT INTO kept VALUES (2); COMMIT")
        .await
        .unwrap_or_else(|err| panic!("the transaction failed: {err:?}\n{}", logs()));
    // A client that leaves ends its session as usual.
    drop(idle);
    drop(in_tx);
    assert!(idle_driver.await.unwrap().is_ok());
    // A transaction that will still be open at handover_grace.
    late_tx
        .batch_execute("BEGIN; INSERT INTO kept VALUES (3)")
        .await
        .unwrap();

    wait_for_within(
        "handover_grace did not end",
        Duration::from_secs(15),
        || log_has(&old_log, "handover_grace (12s) over"),
    );
    // Idle at handover_grace: FATAL 57P01, as PostgreSQL's shutdown says it.
    let err = ended(idle_long_driver, Duration::from_secs(3), "the idle session").await;
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    drop(idle_long);
    // In a transaction: it finishes it, then is closed the same way.
    late_tx
        .batch_execute("INSERT INTO kept VALUES (4); COMMIT")
        .await
        .unwrap_or_else(|err| panic!("the late transaction failed: {err:?}\n{}", logs()));
    let err = ended(late_tx_driver, Duration::from_secs(3), "the late session").await;
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");

    // No session left: the old process exits 0, long before shutdown_grace.
    wait_for_within(
        "the old pgscope did not exit",
        Duration::from_secs(5),
        || old.try_wait().unwrap().is_some(),
    );
    assert!(old.wait().unwrap().success(), "{}", logs());
    assert_eq!(
        cluster.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM kept"),
        "1,2,3,4"
    );
    // The new process serves.
    let (fresh, _fresh_driver) = connect(&url).await;
    fresh.simple_query("SELECT 1").await.unwrap();
    let _ = new.kill();
    let _ = new.wait();
}
