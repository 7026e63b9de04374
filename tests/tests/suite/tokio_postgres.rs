//! tokio-postgres through pgscope: prepared statements reused with many parameters, many
//! queries pipelined on one connection, transactions that commit and roll back, binary
//! `COPY FROM STDIN` and text `COPY TO STDOUT`, a query cancelled with the client's own
//! `CancelToken`, and an error in the middle of a pipeline that fails only its own query.
//! Where the server's state is the proof, it is read directly from the cluster, not through
//! pgscope.

use std::time::{Duration, Instant};

use futures_util::{future, pin_mut, TryStreamExt};
use pgscope_tests::{Cluster, Proxy};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

/// Rows the COPY test moves each way.
const COPY_ROWS: i32 = 5000;
/// Queries the pipelining tests put on the connection at once.
const PIPELINED: i32 = 50;

/// Connects to `url` and drives the connection on its own task.
async fn connect(url: &str, proxy: &Proxy) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {url}: {err:?}\nproxy log:\n{}", proxy.log()));
    tokio::spawn(connection);
    client
}

/// Connects directly to the cluster (the observer's view, bypassing pgscope).
async fn connect_direct(cluster: &Cluster) -> Client {
    let (client, connection) = tokio_postgres::connect(&cluster.url(), NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {}: {err:?}", cluster.url()));
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_run_many_times_with_different_parameters() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let client = connect(&proxy.url(), &proxy).await;
    client
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
        .await
        .unwrap();

    let insert = client
        .prepare("INSERT INTO items VALUES ($1, $2, $3::float8::numeric)")
        .await
        .unwrap();
    assert_eq!(insert.params(), &[Type::INT4, Type::TEXT, Type::FLOAT8]);
    for id in 1..=200 {
        let price = f64::from(id) / 4.0;
        let inserted = client
            .execute(&insert, &[&id, &format!("item {id}"), &price])
            .await
            .unwrap();
        assert_eq!(inserted, 1);
    }

    let lookup = client
        .prepare("SELECT name, price::float8 FROM items WHERE id = $1")
        .await
        .unwrap();
    for id in [1, 2, 77, 150, 200] {
        let row = client.query_one(&lookup, &[&id]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), format!("item {id}"));
        assert_eq!(row.get::<_, f64>(1), f64::from(id) / 4.0);
    }
    assert!(client.query_opt(&lookup, &[&999]).await.unwrap().is_none());

    // Each statement was prepared once, by name, and reused: the server holds one of each.
    let prepared = client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql \
             AND (statement LIKE 'INSERT INTO items %' OR statement LIKE '%FROM items WHERE id = $1')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(prepared.get::<_, i64>(0), 2);
    assert_eq!(
        cluster.psql("SELECT count(*), sum(id), sum(price) FROM items"),
        "200|20100|5025.00"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_on_one_connection_each_get_their_own_result() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let client = connect(&proxy.url(), &proxy).await;
    let square = client
        .prepare("SELECT $1::int8 * $1::int8, repeat('x', $1::int4 % 7)")
        .await
        .unwrap();

    // All futures are polled together, so tokio-postgres writes every request before reading
    // any response: the proxy sees one stream of Bind/Execute/Sync sequences in flight.
    let prepared = (0..PIPELINED).map(|i| {
        let client = &client;
        let square = &square;
        async move {
            let n = i64::from(i);
            let row = client.query_one(square, &[&n]).await?;
            Ok::<_, tokio_postgres::Error>((i, row.get::<_, i64>(0), row.get::<_, String>(1)))
        }
    });
    let results = future::try_join_all(prepared).await.unwrap();
    assert_eq!(results.len(), PIPELINED as usize);
    for (i, product, text) in results {
        assert_eq!(product, i64::from(i) * i64::from(i), "query {i}");
        assert_eq!(text, "x".repeat((i % 7) as usize), "query {i}");
    }

    // Unprepared text queries pipelined the same way (each is Parse/Describe, then Bind/Execute).
    let texts = (0..PIPELINED).map(|i| {
        let client = &client;
        async move {
            let rows = client
                .query("SELECT g FROM generate_series(1, $1::int4) g", &[&(i + 1)])
                .await?;
            Ok::<_, tokio_postgres::Error>((i, rows))
        }
    });
    for (i, rows) in future::try_join_all(texts).await.unwrap() {
        let values: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
        assert_eq!(values, (1..=i + 1).collect::<Vec<_>>(), "query {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_roll_back_as_direct() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let mut client = connect(&proxy.url(), &proxy).await;
    client
        .batch_execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
        .await
        .unwrap();

    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO ledger VALUES (1, 'committed')", &[])
        .await
        .unwrap();
    // Uncommitted: the cluster's other sessions cannot see it yet.
    assert_eq!(cluster.psql("SELECT count(*) FROM ledger"), "0");
    tx.commit().await.unwrap();
    assert_eq!(cluster.psql("SELECT note FROM ledger"), "committed");

    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO ledger VALUES (2, 'rolled back')", &[])
        .await
        .unwrap();
    let seen = tx
        .query_one("SELECT count(*) FROM ledger", &[])
        .await
        .unwrap();
    assert_eq!(seen.get::<_, i64>(0), 2, "a transaction sees its own rows");
    tx.rollback().await.unwrap();
    assert_eq!(cluster.psql("SELECT count(*) FROM ledger"), "1");

    // An error inside a transaction aborts it; after ROLLBACK the connection works again.
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO ledger VALUES (3, 'lost')", &[])
        .await
        .unwrap();
    let err = tx
        .execute("INSERT INTO ledger VALUES (1, 'duplicate')", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err:?}");
    let err = tx.execute("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    tx.rollback().await.unwrap();
    let row = client
        .query_one("SELECT count(*) FROM ledger", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_copy_in_and_text_copy_out_round_trip_thousands_of_rows() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let client = connect(&proxy.url(), &proxy).await;
    client
        .batch_execute("CREATE TABLE measures (id int4, label text, value float8, raw bytea)")
        .await
        .unwrap();

    let sink = client
        .copy_in("COPY measures (id, label, value, raw) FROM STDIN (FORMAT BINARY)")
        .await
        .unwrap();
    let writer =
        BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT, Type::FLOAT8, Type::BYTEA]);
    pin_mut!(writer);
    for id in 0..COPY_ROWS {
        let label = format!("label\t{id}\n\\é");
        let value = f64::from(id) * 0.5;
        let raw: Vec<u8> = (0..(id % 32)).map(|b| (b * 7) as u8).collect();
        writer
            .as_mut()
            .write(&[&id, &label, &value, &raw])
            .await
            .unwrap();
    }
    let copied = writer.finish().await.unwrap();
    assert_eq!(copied, COPY_ROWS as u64);
    assert_eq!(
        cluster.psql("SELECT count(*), sum(id), sum(value), sum(length(raw)) FROM measures"),
        format!(
            "{COPY_ROWS}|{}|{}|{}",
            (0..COPY_ROWS).map(i64::from).sum::<i64>(),
            (0..COPY_ROWS).map(|id| f64::from(id) * 0.5).sum::<f64>(),
            (0..COPY_ROWS).map(|id| i64::from(id % 32)).sum::<i64>()
        )
    );

    let query = "COPY (SELECT * FROM measures ORDER BY id) TO STDOUT";
    let through_proxy = copy_out(&client, query).await;
    let direct = copy_out(&connect_direct(&cluster).await, query).await;
    assert_eq!(through_proxy.len(), direct.len());
    assert!(
        through_proxy == direct,
        "COPY TO STDOUT differs through pgscope"
    );
    let text = String::from_utf8(through_proxy).unwrap();
    assert_eq!(text.lines().count(), COPY_ROWS as usize);
    assert_eq!(
        text.lines().nth(3),
        Some("3\tlabel\\t3\\n\\\\é\t1.5\t\\\\x00070e"),
        "escaped text COPY row"
    );
}

/// Runs `COPY … TO STDOUT` and returns everything it produced.
async fn copy_out(client: &Client, query: &str) -> Vec<u8> {
    let stream = client.copy_out(query).await.unwrap();
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.try_next().await.unwrap() {
        out.extend_from_slice(&chunk);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_token_cancels_a_running_sleep_within_two_seconds() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let client = connect(&proxy.url(), &proxy).await;
    let observer = connect_direct(&cluster).await;
    let token = client.cancel_token();

    let sleeper = tokio::spawn(async move {
        let result = client
            .simple_query("SELECT pg_sleep(30) -- cancel me")
            .await;
        (result, client)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let active = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE '%-- cancel me'",
                &[],
            )
            .await
            .unwrap();
        if active.get::<_, i64>(0) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the sleep never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let cancelled_at = Instant::now();
    token
        .cancel_query(NoTls)
        .await
        .unwrap_or_else(|err| panic!("cancel_query: {err:?}\nproxy log:\n{}", proxy.log()));
    let (result, client) = tokio::time::timeout(Duration::from_secs(5), sleeper)
        .await
        .expect("the cancelled query did not return within 5 s")
        .unwrap();
    let elapsed = cancelled_at.elapsed();
    let err = result.expect_err("pg_sleep(30) finished although it was cancelled");
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    assert!(elapsed < Duration::from_secs(2), "cancel took {elapsed:?}");
    // The connection survives its cancelled query.
    let row = client.query_one("SELECT 42", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_mid_pipeline_fails_only_its_own_query() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let client = connect(&proxy.url(), &proxy).await;
    let divide = client.prepare("SELECT 1000 / $1::int4").await.unwrap();

    // Divisors 5, 4, …, 1, 0, -1, …: the query dividing by zero fails with 22012; every other
    // query of the same pipelined batch still returns its own, correct quotient.
    let failing = 25;
    let queries = (0..PIPELINED).map(|i| {
        let client = &client;
        let divide = &divide;
        async move {
            let divisor = failing - i;
            (divisor, client.query_one(divide, &[&divisor]).await)
        }
    });
    let results = future::join_all(queries).await;
    assert_eq!(results.len(), PIPELINED as usize);
    for (divisor, result) in results {
        if divisor == 0 {
            let err = result.expect_err("division by zero succeeded");
            assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO), "{err:?}");
        } else {
            let row = result.unwrap_or_else(|err| panic!("1000 / {divisor}: {err:?}"));
            assert_eq!(row.get::<_, i32>(0), 1000 / divisor);
        }
    }
    let row = client.query_one(&divide, &[&8]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 125);
}
