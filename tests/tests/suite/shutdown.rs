//! SIGTERM drains pgscope gracefully: new connections are refused with FATAL 57P01, sessions
//! with work in flight (a running query, an open transaction) may finish it, each connection
//! is closed as soon as it is idle, and the process exits 0 — when the last connection is gone,
//! or when `--shutdown-grace` has passed, whichever comes first.

use std::time::{Duration, Instant};

use pgscope_tests::{Cluster, Proxy};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

type Driver = JoinHandle<Result<(), tokio_postgres::Error>>;

/// Connects with tokio-postgres; the connection runs on its own task, returned so the test can
/// see how (and when) the connection ended.
async fn connect(url: &str) -> (Client, Driver) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {url}: {err:?}"));
    (client, tokio::spawn(connection))
}

/// Starts pgscope in front of `cluster` with `--shutdown-grace grace`.
fn proxy_with_grace(cluster: &Cluster, grace: &str) -> Proxy {
    Proxy::start_with(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--shutdown-grace", grace],
    )
}

/// Waits until a backend of `cluster` runs a query containing `needle`.
async fn wait_for_query(observer: &Client, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()",
                &[&needle],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{needle:?} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the connection task to end and returns how it ended.
async fn ended(driver: Driver, within: Duration, proxy: &Proxy) -> tokio_postgres::Error {
    let result = tokio::time::timeout(within, driver)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the connection was still open {within:?} later; proxy log:\n{}",
                proxy.log()
            )
        })
        .unwrap();
    result.expect_err("the connection ended without an error")
}

/// Waits for the proxy to exit and asserts it exited 0; returns when, relative to `since`.
fn exits_zero(proxy: &mut Proxy, since: Instant, within: Duration) -> Duration {
    let status = proxy
        .wait_exit(within)
        .unwrap_or_else(|| panic!("pgscope still running after {within:?}:\n{}", proxy.log()));
    let took = since.elapsed();
    assert!(
        status.success(),
        "pgscope exited with {status}; log:\n{}",
        proxy.log()
    );
    took
}

/// After SIGTERM, a new connection is refused with FATAL 57P01 (retried briefly, as the
/// signal is handled asynchronously).
async fn assert_new_connections_refused(proxy: &Proxy) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match tokio_postgres::connect(&proxy.url(), NoTls).await {
            Err(err) => {
                assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
                return;
            }
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting new sessions after SIGTERM; log:\n{}",
                    proxy.log()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_query_and_its_transaction_finish_then_exits_zero() {
    let cluster = Cluster::start();
    let mut proxy = proxy_with_grace(&cluster, "20s");
    cluster.psql("CREATE TABLE drained (id int)");
    let (observer, _) = connect(&cluster.url()).await;
    let (client, driver) = connect(&proxy.url()).await;
    client
        .batch_execute("BEGIN; INSERT INTO drained VALUES (1)")
        .await
        .unwrap();
    let work = tokio::spawn(async move {
        let started = Instant::now();
        let slept = client.simple_query("SELECT pg_sleep(2) -- draining").await;
        let slept_for = started.elapsed();
        let committed = client.batch_execute("COMMIT").await;
        (slept.map(drop), slept_for, committed, client)
    });
    wait_for_query(&observer, "-- draining").await;

    let terminated = Instant::now();
    proxy.terminate();
    assert_new_connections_refused(&proxy).await;

    let (slept, slept_for, committed, _client) =
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .expect("the running query did not finish")
            .unwrap();
    slept.unwrap_or_else(|err| panic!("the running query failed: {err:?}\n{}", proxy.log()));
    assert!(slept_for >= Duration::from_secs(2), "slept {slept_for:?}");
    committed.unwrap_or_else(|err| panic!("COMMIT failed: {err:?}\n{}", proxy.log()));
    assert_eq!(cluster.psql("SELECT count(*) FROM drained"), "1");

    // Once idle, the connection is closed with pgscope's FATAL 57P01 …
    let err = ended(driver, Duration::from_secs(2), &proxy).await;
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    // … and with no connection left the process exits 0, long before the 20 s grace.
    let took = exits_zero(&mut proxy, terminated, Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(6),
        "exited {took:?} after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_an_idle_connection_at_once_and_exits_zero() {
    let cluster = Cluster::start();
    let mut proxy = proxy_with_grace(&cluster, "20s");
    let (client, driver) = connect(&proxy.url()).await;
    let row = client.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);

    let terminated = Instant::now();
    proxy.terminate();
    let err = ended(driver, Duration::from_secs(2), &proxy).await;
    assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err:?}");
    let db = err.as_db_error().unwrap();
    assert_eq!(db.severity(), "FATAL");
    let took = exits_zero(&mut proxy, terminated, Duration::from_secs(5));
    assert!(
        took < Duration::from_secs(2),
        "exited {took:?} after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_busy_past_the_grace_period_is_cut_and_pgscope_still_exits_zero() {
    let cluster = Cluster::start();
    let mut proxy = proxy_with_grace(&cluster, "2s");
    let (observer, _) = connect(&cluster.url()).await;
    let (client, _driver) = connect(&proxy.url()).await;
    let busy =
        tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30) -- busy").await });
    wait_for_query(&observer, "-- busy").await;

    let terminated = Instant::now();
    proxy.terminate();
    let took = exits_zero(&mut proxy, terminated, Duration::from_secs(10));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "exited {took:?} after SIGTERM with a 2 s grace"
    );
    // The client is not left hanging: its query fails soon after pgscope is gone.
    let result = tokio::time::timeout(Duration::from_secs(5), busy)
        .await
        .expect("the cut client hung")
        .unwrap();
    let err = result.expect_err("pg_sleep(30) completed through a proxy that exited");
    assert!(err.is_closed() || err.code().is_some(), "{err:?}");
}
