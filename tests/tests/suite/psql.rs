//! psql through pgscope: multi-statement simple queries, `\copy` both ways, LISTEN/NOTIFY
//! between two sessions, an error inside a transaction, and a cancelled query. Where the
//! output does not depend on timing, the same psql run goes directly to the cluster too and
//! the two outputs must be identical: pgscope must be invisible.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use pgscope_tests::{output_within, psql_at, psql_command, Cluster, Proxy, CLIENT_TIMEOUT};

/// Runs psql with `args` against `url`, returning (stdout, stderr) and whether it succeeded.
fn run(url: &str, args: &[&str]) -> (String, String, bool) {
    let Output {
        status,
        stdout,
        stderr,
    } = psql_at(url, args);
    (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
        status.success(),
    )
}

/// Waits until a backend of `cluster` other than the one asking is running a query that
/// contains `needle`.
fn wait_for_active_query(cluster: &Cluster, needle: &str) {
    let sql = format!(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' \
         AND query LIKE '%{needle}%' AND pid <> pg_backend_pid()"
    );
    cluster.wait_for(&sql, "t", Duration::from_secs(10));
}

#[test]
fn multi_statement_simple_queries_match_direct_output() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let script = "CREATE TABLE t (id int PRIMARY KEY, name text); \
                  INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL); \
                  SELECT id, name FROM t ORDER BY id; ; \
                  UPDATE t SET name = 'uno' WHERE id = 1; \
                  SELECT count(*), string_agg(name, ',' ORDER BY id) FROM t";
    let (out, err, ok) = run(&proxy.url(), &["-c", script]);
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    for expected in [
        "INSERT 0 3",
        "  1 | one",
        "  3 | ",
        "(3 rows)",
        "UPDATE 1",
        "uno,two",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    assert_eq!(cluster.psql("SELECT count(*) FROM t"), "3");

    // The same script with a failing statement in the middle: it stops there, the statements
    // before it are rolled back with it (one simple Query is one implicit transaction).
    let failing = "INSERT INTO t VALUES (4, 'four'); SELECT 1/0; INSERT INTO t VALUES (5, 'five')";
    let via_proxy = run(&proxy.url(), &["-c", failing]);
    let direct = run(&cluster.url(), &["-c", failing]);
    assert!(!via_proxy.2, "the failing script succeeded");
    assert!(via_proxy.1.contains("division by zero"), "{}", via_proxy.1);
    assert_eq!(via_proxy, direct, "through pgscope vs direct");
    assert_eq!(cluster.psql("SELECT count(*) FROM t"), "3");

    // Read-only statements give byte-identical output either way.
    let read = "SELECT * FROM t ORDER BY id; SELECT 'a;b' AS semicolon, E'tab\\there'; SHOW server_encoding";
    assert_eq!(
        run(&proxy.url(), &["-c", read]),
        run(&cluster.url(), &["-c", read])
    );
}

#[test]
fn copy_in_and_out_round_trips_the_data() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::new();
    for i in 0..20_000 {
        let text = match i % 4 {
            0 => format!("\"row {i}, with comma\""),
            1 => format!("\"quote \"\" {i}\""),
            2 => format!("ünïcødé ✓ {i}"),
            _ => String::new(), // NULL
        };
        csv.push_str(&format!("{i},{text},{}\n", i * 7));
    }
    std::fs::write(&input, &csv).unwrap();
    cluster.psql("CREATE TABLE items (id int PRIMARY KEY, label text, n bigint)");

    let copy_in = format!("\\copy items FROM '{}' WITH (FORMAT csv)", input.display());
    let (out, err, ok) = run(&proxy.url(), &["-c", &copy_in]);
    assert!(ok, "{err}\nproxy log:\n{}", proxy.log());
    assert_eq!(out.trim(), "COPY 20000");
    assert_eq!(
        cluster.psql("SELECT count(*), count(label), sum(n) FROM items"),
        "20000|15000|1399930000"
    );

    let output = dir.path().join("out.csv");
    let copy_out = format!(
        "\\copy (SELECT * FROM items ORDER BY id) TO '{}' WITH (FORMAT csv)",
        output.display()
    );
    let (out, err, ok) = run(&proxy.url(), &["-c", &copy_out]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "COPY 20000");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), csv);

    // Binary COPY out: the same bytes through pgscope as directly.
    let binary = |url: &str, name: &str| {
        let path = dir.path().join(name);
        let sql = format!(
            "\\copy (SELECT * FROM items ORDER BY id) TO '{}' WITH (FORMAT binary)",
            path.display()
        );
        let (_, err, ok) = run(url, &["-c", &sql]);
        assert!(ok, "{err}");
        std::fs::read(path).unwrap()
    };
    let via_proxy = binary(&proxy.url(), "proxy.bin");
    assert!(via_proxy.starts_with(b"PGCOPY\n\xff\r\n\0"));
    assert_eq!(via_proxy, binary(&cluster.url(), "direct.bin"));
}

#[test]
fn listen_notify_between_two_sessions() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    // The listener LISTENs, then sleeps in a second statement; the notification is delivered
    // when that statement's transaction ends, and psql prints it.
    let mut command = psql_command(&proxy.url());
    command.args([
        "-c",
        "LISTEN pgscope_channel",
        "-c",
        "SELECT pg_sleep(2) /* listener */",
    ]);
    let listener = std::thread::spawn(move || output_within(&mut command, CLIENT_TIMEOUT));
    wait_for_active_query(&cluster, "listener");
    let (out, err, ok) = run(
        &proxy.url(),
        &["-c", "NOTIFY pgscope_channel, 'hello through pgscope'"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "NOTIFY");
    let listened = listener.join().unwrap();
    let stdout = String::from_utf8_lossy(&listened.stdout);
    assert!(
        listened.status.success(),
        "{}",
        String::from_utf8_lossy(&listened.stderr)
    );
    assert!(
        stdout.contains(
            "Asynchronous notification \"pgscope_channel\" with payload \"hello through pgscope\" \
             received from server process with PID"
        ),
        "listener printed:\n{stdout}"
    );
}

#[test]
fn error_mid_transaction_then_rollback() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    cluster.psql("CREATE TABLE ledger (amount int)");
    let args = [
        "-c",
        "BEGIN",
        "-c",
        "INSERT INTO ledger VALUES (100)",
        "-c",
        "SELECT 1/0",
        "-c",
        "INSERT INTO ledger VALUES (200)",
        "-c",
        "ROLLBACK",
        "-c",
        "SELECT count(*) FROM ledger",
    ];
    let (out, err, _) = run(&proxy.url(), &args);
    assert!(err.contains("ERROR:  division by zero"), "{err}");
    assert!(
        err.contains("ERROR:  current transaction is aborted, commands ignored until end of transaction block"),
        "{err}"
    );
    assert!(out.contains("ROLLBACK"), "{out}");
    assert!(out.trim_end().ends_with("0\n(1 row)"), "{out}");
    assert_eq!(cluster.psql("SELECT count(*) FROM ledger"), "0");
    // The session is usable again after the rollback, and psql's view is the same as direct.
    cluster.psql("TRUNCATE ledger");
    assert_eq!(run(&proxy.url(), &args), run(&cluster.url(), &args));
}

#[test]
fn sigint_cancels_a_long_query_within_two_seconds() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let mut psql = psql_command(&proxy.url())
        .args(["-c", "SELECT pg_sleep(30) /* to be cancelled */"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_active_query(&cluster, "to be cancelled");
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &psql.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = sent + Duration::from_secs(2);
    let status = loop {
        if let Some(status) = psql.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = psql.kill();
            let output = psql.wait_with_output().unwrap();
            panic!(
                "psql still running 2 s after SIGINT; stderr: {}\nproxy log:\n{}",
                String::from_utf8_lossy(&output.stderr),
                proxy.log()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = sent.elapsed();
    let output = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("canceling statement due to user request"),
        "after {elapsed:?}, psql said: {stderr}"
    );
    // The backend really stopped sleeping: nothing is left running the query.
    assert_eq!(
        cluster.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%to be cancelled%' \
             AND state = 'active' AND pid <> pg_backend_pid()"
        ),
        "0"
    );
}
