//! The replay engine (`pgscope::replay`) against real servers, on captures built in memory.
//!
//! The engine tests build a capture in memory (the replay's own model, what the capture reader
//! is mapped onto) so that they prove the engine alone: every kind of request sent raw, in
//! order, to a real cluster, the answers matched to statements as the proxy's session tracker
//! matches them, and the comparison with the baseline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pgscope::replay::compare;
use pgscope::replay::model::{Baseline, Capture, CapturedSession, Message};
use pgscope::replay::{Options, Replay, Speed};
use pgscope::shape::Shapes;
use pgscope_config::{Pgpass, Target};
use pgscope_exporters::report::{ChangeStatus, ReplaySummary};
use pgscope_exporters::{QueryInfo, Sample, SampleOutcome};
use pgscope_protocol::encode::frontend as enc;
use pgscope_tests::{Cluster, TlsCluster, APP_PASSWORD};

fn options(target: &str) -> Options {
    Options {
        target: Target::parse(target).unwrap(),
        speed: Speed::Max,
        multiply: 1,
        read_only: false,
        stall_timeout: None,
        pgpassword: None,
        pgpass: Pgpass::default(),
        connect_timeout: Duration::from_secs(5),
    }
}

fn summary() -> ReplaySummary {
    ReplaySummary {
        capture: "test".into(),
        target: "test".into(),
        speed: "max".into(),
        multiply: 1,
        read_only: false,
        sessions: 1,
        captured_ms: 0.0,
        replayed_ms: 0.0,
        statements_captured: 0,
        statements_replayed: 0,
        skipped_requests: 0,
        stalls: vec![],
        failures: vec![],
        warnings: vec![],
    }
}

/// Builds a session of `messages` sent 1 ms apart, and its baseline: one statement per
/// `(sql, outcome)` in `statements`.
fn capture(user: &str, messages: Vec<Bytes>, statements: &[(&str, SampleOutcome)]) -> Capture {
    let messages = messages
        .iter()
        .enumerate()
        .map(|(i, wire)| Message::from_wire(Duration::from_millis(i as u64), wire).unwrap())
        .collect();
    let baseline = statements
        .iter()
        .map(|(sql, outcome)| {
            let analysis = pgscope_fingerprint::analyze(sql);
            Baseline {
                fingerprint: analysis.fingerprint.0,
                info: QueryInfo {
                    query: analysis.normalized.as_str().into(),
                    summary: analysis.summary.as_str().into(),
                    operation: analysis.operation.as_str().into(),
                    tables: analysis.tables.iter().map(|t| t.as_str().into()).collect(),
                },
                database: "postgres".into(),
                user: user.into(),
                application: "captured-app".into(),
                sample: Sample {
                    at_ms: 1,
                    latency_us: 100,
                    rows: None,
                    outcome: *outcome,
                    batched: false,
                    batch_us: None,
                },
            }
        })
        .collect();
    Capture {
        sessions: vec![CapturedSession {
            id: 1,
            connected_at: Duration::ZERO,
            database: "postgres".into(),
            user: user.into(),
            application: "captured-app".into(),
            messages,
            ..CapturedSession::default()
        }],
        baseline,
        duration: Duration::from_millis(10),
        ..Capture::default()
    }
}

/// A session connecting at `connected_ms` that sends each `(ms, message)` at its time.
fn timed_session(id: u64, connected_ms: u64, messages: Vec<(u64, Bytes)>) -> CapturedSession {
    CapturedSession {
        id,
        connected_at: Duration::from_millis(connected_ms),
        database: "postgres".into(),
        user: "postgres".into(),
        application: "captured-app".into(),
        messages: messages
            .into_iter()
            .map(|(ms, wire)| Message::from_wire(Duration::from_millis(ms), &wire).unwrap())
            .collect(),
        ..CapturedSession::default()
    }
}

fn run(capture: &Capture, options: Options) -> pgscope::replay::Outcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let replay = Replay::new(capture, options, Arc::new(Shapes::new(1024, 4096)));
    runtime.block_on(replay.run()).unwrap()
}

#[test]
fn simple_extended_copy_and_a_failing_statement_replay_as_captured() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE t (a int PRIMARY KEY, b text)");
    let messages = vec![
        enc::query("INSERT INTO t VALUES (1, 'one')"),
        enc::parse("ins", "INSERT INTO t VALUES ($1, $2)", &[]),
        enc::bind("", "ins", &[Some(b"2"), Some(b"two")]),
        enc::execute("", 0),
        enc::sync(),
        enc::query("COPY t FROM STDIN"),
        enc::copy_data(b"3\tthree\n4\tfour\n"),
        enc::copy_done(),
        enc::query("INSERT INTO t VALUES (1, 'again')"),
        enc::bind("", "ins", &[Some(b"5"), Some(b"five")]),
        enc::execute("", 0),
        enc::sync(),
        enc::query("SELECT count(*) FROM t"),
        enc::terminate(),
    ];
    let ok = SampleOutcome::Ok;
    let capture = capture(
        "postgres",
        messages,
        &[
            ("INSERT INTO t VALUES (1, 'one')", ok),
            ("INSERT INTO t VALUES ($1, $2)", ok),
            ("COPY t FROM STDIN", ok),
            (
                "INSERT INTO t VALUES (1, 'again')",
                SampleOutcome::Error(*b"23505"),
            ),
            ("INSERT INTO t VALUES ($1, $2)", ok),
            ("SELECT count(*) FROM t", ok),
        ],
    );
    let outcome = run(&capture, options(&cluster.url()));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(
        cluster.psql("SELECT string_agg(a || ':' || b, ',' ORDER BY a) FROM t"),
        "1:one,2:two,3:three,4:four,5:five"
    );
    let report = compare::report(&outcome, &capture, summary());
    let changes = &report.baseline.as_ref().unwrap().changes;
    // The literal and the parameterized INSERT share a fingerprint: INSERT, COPY, SELECT.
    assert_eq!(changes.len(), 3, "{changes:#?}");
    for change in changes {
        assert_eq!(change.calls_before, change.calls_after, "{change:#?}");
        assert!(change.new_errors.is_empty(), "{change:#?}");
        assert_ne!(change.status, ChangeStatus::Missing, "{change:#?}");
        assert_eq!(change.application, "captured-app");
    }
    assert_eq!(report.replay.as_ref().unwrap().statements_replayed, 6);
}

#[test]
fn a_statement_failing_only_on_replay_is_reported_with_its_sqlstate() {
    let cluster = Cluster::start();
    let capture = capture(
        "postgres",
        vec![enc::query("SELECT * FROM missing_table"), enc::terminate()],
        &[("SELECT * FROM missing_table", SampleOutcome::Ok)],
    );
    let outcome = run(&capture, options(&cluster.url()));
    let report = compare::report(&outcome, &capture, summary());
    let change = &report.baseline.as_ref().unwrap().changes[0];
    assert_eq!(change.status, ChangeStatus::Errors);
    assert_eq!(change.new_errors.get("42P01"), Some(&1), "{change:#?}");
}

#[test]
fn a_session_the_server_refuses_after_authentication_fails_with_the_servers_sqlstate() {
    // PostgreSQL checks the database only after AuthenticationOk, then sends FATAL 3D000 and
    // closes: the replay must report that session, not wait for a ReadyForQuery forever.
    let cluster = Cluster::start();
    let capture = capture(
        "postgres",
        vec![enc::query("SELECT 1"), enc::terminate()],
        &[("SELECT 1", SampleOutcome::Ok)],
    );
    let url = cluster.url();
    let (server, _database) = url.rsplit_once('/').unwrap();
    let outcome = run(&capture, options(&format!("{server}/no_such_database")));
    assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
    assert!(
        outcome.failures[0].error.contains("3D000"),
        "{:?}",
        outcome.failures
    );
}

#[test]
fn a_write_the_read_only_filter_cannot_see_is_refused_by_the_server() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2)");
    let hidden_write = "WITH d AS (DELETE FROM t RETURNING a) SELECT count(*) FROM d";
    let capture = capture(
        "postgres",
        vec![enc::query(hidden_write), enc::terminate()],
        &[(hidden_write, SampleOutcome::Ok)],
    );
    let mut read_only = options(&cluster.url());
    read_only.read_only = true;
    let outcome = run(&capture, read_only);
    let report = compare::report(&outcome, &capture, summary());
    let change = &report.baseline.as_ref().unwrap().changes[0];
    assert_eq!(change.new_errors.get("25006"), Some(&1), "{change:#?}");
    assert_eq!(cluster.psql("SELECT count(*) FROM t").trim(), "2");
}

#[test]
fn scram_over_tls_with_the_password_from_the_target_url() {
    let tls = TlsCluster::start(&["localhost", "127.0.0.1"]);
    let capture = capture(
        TlsCluster::USER,
        vec![enc::query("SELECT current_user"), enc::terminate()],
        &[("SELECT current_user", SampleOutcome::Ok)],
    );
    let password = APP_PASSWORD.replace(' ', "%20");
    let url = format!(
        "postgres://{}:{password}@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        TlsCluster::USER,
        tls.port(),
        tls.ca.cert().display()
    );
    let outcome = run(&capture, options(&url));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let report = compare::report(&outcome, &capture, summary());
    assert_eq!(report.replay.as_ref().unwrap().statements_replayed, 1);

    let mut wrong = options(&url.replace(&password, "wrong"));
    wrong.pgpassword = None;
    let outcome = run(&capture, wrong);
    assert_eq!(outcome.failures.len(), 1);
    assert!(
        outcome.failures[0].error.contains("28P01"),
        "{:?}",
        outcome.failures
    );
}

#[test]
fn a_session_waiting_on_a_lock_past_the_stall_timeout_is_cancelled_and_a_slow_one_is_not() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE s (id int PRIMARY KEY, v int); INSERT INTO s VALUES (1, 0)");
    let holder = timed_session(
        1,
        0,
        vec![
            (0, enc::query("BEGIN")),
            (1, enc::query("UPDATE s SET v = v + 1 WHERE id = 1")),
            (3000, enc::query("COMMIT")),
            (3001, enc::terminate()),
        ],
    );
    let waiter = timed_session(
        2,
        100,
        vec![
            (200, enc::query("UPDATE s SET v = v + 10 WHERE id = 1")),
            (300, enc::terminate()),
        ],
    );
    let sleeper = timed_session(
        3,
        0,
        vec![
            (10, enc::query("SELECT pg_sleep(1.5)")),
            (20, enc::terminate()),
        ],
    );
    let capture = Capture {
        sessions: vec![holder, waiter, sleeper],
        ..Capture::default()
    };
    let mut opts = options(&cluster.url());
    opts.speed = Speed::Factor(1.0);
    opts.stall_timeout = Some(Duration::from_millis(500));
    let outcome = run(&capture, opts);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let stalled: Vec<u64> = outcome.stalls.iter().map(|s| s.session).collect();
    assert_eq!(stalled, vec![2], "{:?}", outcome.stalls);
    assert!(outcome.stalls[0].waited_ms >= 500, "{:?}", outcome.stalls);
    // The waiter's UPDATE was cancelled (not merely delayed until the COMMIT); the sleep ran.
    assert_eq!(cluster.psql("SELECT v FROM s"), "1");
    let report = compare::report(&outcome, &capture, summary());
    let rows = &report.rows;
    let cancelled = rows
        .iter()
        .find(|r| r.row.errors.contains_key("57014"))
        .unwrap_or_else(|| panic!("no cancelled statement in {rows:#?}"));
    assert_eq!(cancelled.row.operation, "UPDATE");
    let sleep = rows
        .iter()
        .find(|r| r.row.query.contains("pg_sleep"))
        .unwrap();
    assert_eq!((sleep.row.calls, sleep.row.error_count), (1, 0));
}

/// Ten `SELECT 1`s, 100 ms apart.
fn paced_capture() -> Capture {
    let messages = (0..10)
        .map(|i| (i * 100, enc::query("SELECT 1")))
        .chain([(1000, enc::terminate())])
        .collect();
    Capture {
        sessions: vec![timed_session(1, 0, messages)],
        ..Capture::default()
    }
}

#[test]
fn speed_two_takes_about_half_the_time_and_multiply_three_triples_the_calls() {
    let cluster = Cluster::start();
    let capture = paced_capture();
    let timed = |speed: f64| {
        let mut opts = options(&cluster.url());
        opts.speed = Speed::Factor(speed);
        let start = Instant::now();
        let outcome = run(&capture, opts);
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        start.elapsed()
    };
    let normal = timed(1.0);
    let double = timed(2.0);
    assert!(normal >= Duration::from_millis(900), "{normal:?}");
    let ratio = double.as_secs_f64() / normal.as_secs_f64();
    assert!((0.3..0.75).contains(&ratio), "{double:?} vs {normal:?}");

    let mut opts = options(&cluster.url());
    opts.multiply = 3;
    let outcome = run(&capture, opts);
    assert_eq!(outcome.sessions, 3);
    let report = compare::report(&outcome, &capture, summary());
    assert_eq!(report.replay.as_ref().unwrap().statements_replayed, 30);
}

/// A pipeline whose input and answers each outgrow the sockets' buffers: written whole before
/// reading, the replay and the server would each block writing to the other.
#[test]
fn a_pipeline_larger_than_the_socket_buffers_both_ways_does_not_deadlock() {
    let cluster = Cluster::start();
    let value = vec![b'v'; 100_000];
    let executes = 400; // 40 MB each way
    let mut messages = vec![enc::parse("echo", "SELECT $1::text", &[])];
    for _ in 0..executes {
        messages.push(enc::bind("", "echo", &[Some(&value)]));
        messages.push(enc::execute("", 0));
    }
    messages.push(enc::sync());
    messages.push(enc::terminate());
    let session = CapturedSession {
        messages: messages
            .iter()
            .map(|wire| Message::from_wire(Duration::ZERO, wire).unwrap())
            .collect(),
        ..timed_session(1, 0, vec![])
    };
    let capture = Capture {
        sessions: vec![session],
        baseline: vec![],
        duration: Duration::from_millis(1),
        ..Capture::default()
    };
    let url = cluster.url();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(run(&capture, options(&url)));
    });
    let outcome = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the replay deadlocked on a pipeline larger than the socket buffers");
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let calls: u64 = pgscope_exporters::report::build(
        &*outcome.recorder,
        &pgscope_exporters::view::Query {
            limit: usize::MAX,
            ..Default::default()
        },
    )
    .rows
    .iter()
    .map(|r| r.row.calls)
    .sum();
    assert_eq!(calls, executes as u64);
}
