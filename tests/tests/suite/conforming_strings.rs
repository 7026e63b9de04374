//! `standard_conforming_strings` end to end: whatever the connection's setting — `off` from a
//! `SET`, `SET LOCAL` and its rollback, the default `on`, a change pipelined ahead of a query —
//! and however a client escapes a quote inside a literal, no character of the literal reaches
//! `/api/v1/fingerprints` or the debug log.

use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_tests::{free_port, Cluster, Proxy, ProxyEnv};
use tokio_postgres::NoTls;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The admin API's list of fingerprints as text, once it holds at least `calls` calls.
fn fingerprints_after(admin: &AdminClient, calls: u64) -> String {
    for _ in 0..200 {
        if let Ok(body) = admin.get("/api/v1/fingerprints?limit=100000") {
            let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if list["totals"]["calls"].as_u64() >= Some(calls) {
                return String::from_utf8(body).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the recorder never reached {calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_escaped_literals_never_reach_the_api_under_either_setting() {
    let cluster = Cluster::start();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_with_env(
        &format!("postgres://127.0.0.1:{}", cluster.port()),
        &["--admin", &admin_addr],
        &ProxyEnv {
            remove: &[],
            set: &[("RUST_LOG", "debug")],
        },
    );
    let admin = AdminClient::new(&admin_addr, None);
    let mut calls = 0;

    // `off` for the session: `\'` does not end the literal.
    let off = connect(&proxy.url()).await;
    off.batch_execute("SET standard_conforming_strings = off")
        .await
        .unwrap();
    let row = off
        .query_one(r"SELECT 'it\'s SECRET_X there'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "it's SECRET_X there");
    off.batch_execute(r"SELECT 'it\'s SECRET_Y there', 'a\\' AS b")
        .await
        .unwrap();
    calls += 3;

    // `off` for one transaction, then `on` again after its rollback.
    let local = connect(&proxy.url()).await;
    local
        .batch_execute("BEGIN; SET LOCAL standard_conforming_strings = off")
        .await
        .unwrap();
    local
        .batch_execute(r"SELECT 'it\'s SECRET_L there'")
        .await
        .unwrap();
    local.batch_execute("ROLLBACK").await.unwrap();
    local
        .batch_execute(r"SELECT E'it\'s SECRET_E there', 'C:\' AS path")
        .await
        .unwrap();
    calls += 5;

    // `on`, the default: a literal written for `off` fails on the server, and is still hidden.
    let on = connect(&proxy.url()).await;
    assert!(on
        .batch_execute(r"SELECT 'it\'s SECRET_M there'")
        .await
        .is_err());
    on.batch_execute(r"SELECT e'it\'s SECRET_F there'")
        .await
        .unwrap();
    calls += 2;

    // A change still in flight when the next query is sent (pipelined).
    let piped = connect(&proxy.url()).await;
    let set = piped.batch_execute("SET standard_conforming_strings = off");
    let select = piped.query_one(r"SELECT 'it\'s SECRET_P there'", &[]);
    let (set, select) = futures_util::future::join(set, select).await;
    set.unwrap();
    select.unwrap();
    calls += 2;

    let listed = fingerprints_after(&admin, calls);
    assert!(
        !listed.to_ascii_lowercase().contains("secret"),
        "a literal leaked into /api/v1/fingerprints:\n{listed}"
    );
    assert!(
        listed.contains("\"select $1\""),
        "the escaped literals are one placeholder:\n{listed}"
    );
    let log = proxy.log();
    assert!(
        log.contains("select $1"),
        "the debug log names queries:\n{log}"
    );
    assert!(
        !log.to_ascii_lowercase().contains("secret"),
        "a literal leaked into the log:\n{log}"
    );
}
