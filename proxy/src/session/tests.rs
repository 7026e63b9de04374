//! Session tests: startup, simple protocol, COPY, asynchronous messages, connection ends.
//! No sockets: messages are built with `pgscope_protocol::encode` and fed with explicit times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pgscope_protocol::encode::{backend as be, frontend as fe};
use pgscope_protocol::Limits;

use super::{Action, Output, Phase, Session, SessionConfig};
use crate::observer::{Event, Outcome, Protocol, QueryFinished};

/// Drives one session through its startup and then feeds it traffic.
pub(super) struct Harness {
    pub session: Session,
    pub now: Instant,
    pub out: Output,
    pub events: Vec<Event>,
}

impl Harness {
    pub fn new(config: SessionConfig) -> Self {
        Harness {
            session: Session::new(config),
            now: Instant::now(),
            out: Output::default(),
            events: Vec::new(),
        }
    }

    /// A session that went through startup and authentication for user `alice`.
    pub fn ready() -> Self {
        let mut h = Harness::new(SessionConfig::default());
        let mut buf = BytesMut::from(
            &fe::startup(
                (3, 0),
                &[
                    ("user", "alice"),
                    ("database", "shop"),
                    ("application_name", "api"),
                ],
            )[..],
        );
        h.session.on_client_startup(&mut buf, &mut h.out);
        assert_eq!(h.out.action, Some(Action::Connect));
        h.out.clear();
        h.server(&[
            be::auth_ok(),
            be::parameter_status("application_name", "api"),
            be::backend_key_data(4242, &[1, 2, 3, 4]),
            be::ready_for_query(b'I'),
        ]);
        h
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    pub fn client(&mut self, messages: &[Bytes]) -> Bytes {
        let chunk = Bytes::from(messages.concat());
        self.out.clear();
        self.session
            .on_client_data(chunk.clone(), self.now, &mut self.out);
        self.events.extend(self.out.events.drain(..));
        chunk
    }

    pub fn server(&mut self, messages: &[Bytes]) -> Bytes {
        let chunk = Bytes::from(messages.concat());
        self.out.clear();
        self.session
            .on_server_data(chunk.clone(), self.now, &mut self.out);
        self.events.extend(self.out.events.drain(..));
        chunk
    }

    /// The finished queries so far, as (text, outcome, rows, latency in ms, protocol).
    pub fn finished(&self) -> Vec<(String, Outcome, Option<u64>, u64, Protocol)> {
        self.finished_events()
            .map(|q| {
                (
                    q.statement.text.to_string(),
                    q.outcome,
                    q.rows,
                    q.latency().as_millis() as u64,
                    q.protocol,
                )
            })
            .collect()
    }

    pub fn finished_events(&self) -> impl Iterator<Item = &QueryFinished> {
        self.events.iter().filter_map(|e| match e {
            Event::QueryFinished(q) => Some(q),
            _ => None,
        })
    }
}

pub(super) const OK: Outcome = Outcome::Ok;

pub(super) fn error(code: &str) -> Outcome {
    let mut sqlstate = [0u8; 5];
    sqlstate.copy_from_slice(code.as_bytes());
    Outcome::Error { sqlstate }
}

#[test]
fn ssl_and_gssenc_requests_are_refused_with_n_then_startup_connects() {
    let mut session = Session::new(SessionConfig::default());
    let mut out = Output::default();
    let mut buf = BytesMut::from(&fe::ssl_request()[..]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.to_client.to_vec(), vec![Bytes::from_static(b"N")]);
    assert_eq!(out.action, None);
    out.clear();
    buf.extend_from_slice(&fe::gssenc_request());
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.to_client.to_vec(), vec![Bytes::from_static(b"N")]);
    out.clear();
    let startup = fe::startup((3, 0), &[("user", "bob")]);
    buf.extend_from_slice(&startup);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    assert_eq!(
        out.to_server.to_vec(),
        vec![startup],
        "startup forwarded byte for byte"
    );
    assert!(out.to_client.is_empty());
    assert_eq!(session.phase(), Phase::Running);
    assert_eq!(
        &*session.connection().database,
        "bob",
        "database defaults to user"
    );
}

#[test]
fn startup_split_across_reads_waits_for_the_whole_packet() {
    let mut session = Session::new(SessionConfig::default());
    let mut out = Output::default();
    let startup = fe::startup((3, 0), &[("user", "bob"), ("database", "db")]);
    let mut buf = BytesMut::from(&startup[..7]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, None);
    buf.extend_from_slice(&startup[7..]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    assert_eq!(out.to_server.to_vec(), vec![startup]);
}

#[test]
fn cancel_request_with_a_long_protocol_3_2_key_is_forwarded_unchanged() {
    let key = [7u8; 32];
    let packet = fe::cancel_request(99, &key);
    let mut session = Session::new(SessionConfig::default());
    let mut out = Output::default();
    let mut buf = BytesMut::from(&packet[..]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, Some(Action::Cancel(packet)));
    assert_eq!(session.phase(), Phase::Closed);
}

#[test]
fn protocol_3_2_startup_is_forwarded() {
    let mut session = Session::new(SessionConfig::default());
    let mut out = Output::default();
    let startup = fe::startup((3, 2), &[("user", "bob")]);
    let mut buf = BytesMut::from(&startup[..]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    assert_eq!(out.to_server.to_vec(), vec![startup]);
}

#[test]
fn malformed_startup_gets_fatal_08p01_and_close() {
    let mut session = Session::new(SessionConfig::default());
    let mut out = Output::default();
    // Length 8, code 80877120 is no known request.
    let mut buf = BytesMut::from(&[0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x40][..]);
    session.on_client_startup(&mut buf, &mut out);
    assert_eq!(out.action, Some(Action::Close));
    assert!(out.to_server.is_empty());
    let reply = out.to_client.concat();
    assert_eq!(reply[0], b'E');
    assert!(reply.windows(5).any(|w| w == b"08P01"));
}

#[test]
fn oversized_client_message_gets_fatal_08p01_and_is_not_forwarded() {
    let mut h = Harness::new(SessionConfig {
        limits: Limits {
            max_message_len: 1024,
            ..Limits::default()
        },
        ..SessionConfig::default()
    });
    let mut buf = BytesMut::from(&fe::startup((3, 0), &[("user", "u")])[..]);
    h.session.on_client_startup(&mut buf, &mut h.out);
    h.server(&[be::auth_ok(), be::ready_for_query(b'I')]);
    let query = fe::query(&format!("SELECT '{}'", "x".repeat(2000)));
    let announced = (query.len() - 1).to_string();
    h.client(&[query]);
    assert_eq!(h.out.action, Some(Action::Close));
    assert!(h.out.to_server.is_empty(), "nothing of it goes upstream");
    let reply = h.out.to_client.concat();
    assert_eq!(reply[0], b'E');
    assert!(reply.windows(5).any(|w| w == b"08P01"));
    assert!(
        reply
            .windows(announced.len())
            .any(|w| w == announced.as_bytes()),
        "names the length"
    );
}

#[test]
fn client_and_server_bytes_are_forwarded_unchanged_in_the_same_chunks() {
    let mut h = Harness::ready();
    let sent = h.client(&[fe::query("SELECT 1; SELECT 2")]);
    assert_eq!(h.out.to_server.to_vec(), vec![sent]);
    let answer = h.server(&[
        be::row_description(&["?column?"]),
        be::data_row(&[Some(b"1")]),
        be::command_complete("SELECT 1"),
    ]);
    assert_eq!(h.out.to_client.to_vec(), vec![answer]);
}

#[test]
fn simple_query_with_several_statements_records_each_in_order_with_its_own_time() {
    let mut h = Harness::ready();
    h.client(&[fe::query(
        "CREATE TABLE t(a int); INSERT INTO t VALUES (1),(2); SELECT * FROM t",
    )]);
    h.advance(5);
    h.server(&[be::command_complete("CREATE TABLE")]);
    h.advance(3);
    h.server(&[be::command_complete("INSERT 0 2")]);
    h.advance(2);
    h.server(&[
        be::row_description(&["a"]),
        be::data_row(&[Some(b"1")]),
        be::data_row(&[Some(b"2")]),
        be::command_complete("SELECT 2"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(
        h.finished(),
        vec![
            (
                "CREATE TABLE t(a int)".into(),
                OK,
                None,
                5,
                Protocol::Simple
            ),
            (
                "INSERT INTO t VALUES (1),(2)".into(),
                OK,
                Some(2),
                3,
                Protocol::Simple
            ),
            ("SELECT * FROM t".into(), OK, Some(2), 2, Protocol::Simple),
        ]
    );
    let commands: Vec<_> = h.finished_events().map(|q| q.command.to_string()).collect();
    assert_eq!(commands, ["CREATE TABLE", "INSERT", "SELECT"]);
    // Each statement is reported once, and nothing else is.
    assert_eq!(h.events.len(), 3, "{:?}", h.events);
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn error_in_a_simple_query_fails_that_statement_and_skips_the_rest() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT 1; SELECT * FROM missing; SELECT 3")]);
    h.advance(1);
    h.server(&[be::command_complete("SELECT 1")]);
    h.advance(4);
    h.server(&[
        be::error_response("ERROR", "42P01", "relation \"missing\" does not exist"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(
        h.finished(),
        vec![
            ("SELECT 1".into(), OK, Some(1), 1, Protocol::Simple),
            (
                "SELECT * FROM missing".into(),
                error("42P01"),
                None,
                4,
                Protocol::Simple
            ),
            (
                "SELECT 3".into(),
                Outcome::Skipped,
                None,
                0,
                Protocol::Simple
            ),
        ]
    );
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn empty_query_gets_no_record_and_leaves_nothing_in_flight() {
    let mut h = Harness::ready();
    h.client(&[fe::query("  ;  ")]);
    h.server(&[be::empty_query_response(), be::ready_for_query(b'I')]);
    assert!(h.finished().is_empty());
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn copy_from_stdin_is_recorded_when_its_command_complete_arrives() {
    let mut h = Harness::ready();
    h.client(&[fe::query("COPY t FROM STDIN")]);
    h.server(&[be::copy_in_response(1)]);
    h.advance(10);
    h.client(&[
        fe::copy_data(b"1\n"),
        fe::copy_data(b"2\n"),
        fe::copy_done(),
    ]);
    h.advance(1);
    h.server(&[be::command_complete("COPY 2"), be::ready_for_query(b'I')]);
    assert_eq!(
        h.finished(),
        vec![(
            "COPY t FROM STDIN".into(),
            OK,
            Some(2),
            11,
            Protocol::Simple
        )]
    );
}

#[test]
fn copy_to_stdout_is_recorded_and_copy_data_is_not_mistaken_for_results() {
    let mut h = Harness::ready();
    h.client(&[fe::query("COPY t TO STDOUT")]);
    h.advance(2);
    h.server(&[
        be::copy_out_response(1),
        be::copy_data(b"1\n"),
        be::copy_data(b"2\n"),
        be::copy_data(b"3\n"),
        be::copy_done(),
        be::command_complete("COPY 3"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(
        h.finished(),
        vec![("COPY t TO STDOUT".into(), OK, Some(3), 2, Protocol::Simple)]
    );
}

#[test]
fn copy_fail_is_recorded_as_the_servers_error() {
    let mut h = Harness::ready();
    h.client(&[fe::query("COPY t FROM STDIN")]);
    h.server(&[be::copy_in_response(1)]);
    h.client(&[fe::copy_fail("client gave up")]);
    h.server(&[
        be::error_response("ERROR", "57014", "COPY from stdin failed: client gave up"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(h.finished()[0].1, error("57014"));
}

#[test]
fn notifications_notices_and_parameter_status_anywhere_change_nothing() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT 1")]);
    h.server(&[
        be::notification(7, "jobs", "hello"),
        be::notice_response("NOTICE", "00000", "just saying"),
        be::row_description(&["x"]),
        be::parameter_status("TimeZone", "UTC"),
        be::data_row(&[Some(b"1")]),
        be::notification(7, "jobs", "again"),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    // And on an idle connection.
    h.server(&[be::notification(8, "jobs", "idle")]);
    assert_eq!(
        h.finished(),
        vec![("SELECT 1".into(), OK, Some(1), 0, Protocol::Simple)]
    );
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn set_application_name_relabels_later_queries_only() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SET application_name = 'worker'")]);
    h.server(&[
        be::command_complete("SET"),
        be::parameter_status("application_name", "worker"),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::query("SELECT 1")]);
    h.server(&[be::command_complete("SELECT 1"), be::ready_for_query(b'I')]);
    let apps: Vec<_> = h
        .finished_events()
        .map(|q| q.connection.application_name.to_string())
        .collect();
    assert_eq!(apps, ["api", "worker"]);
    let first = h
        .finished_events()
        .next()
        .map(|q| q.connection.database.clone());
    assert_eq!(first.as_deref(), Some("shop"));
}

#[test]
fn server_closing_mid_session_tells_the_client_with_08006_at_a_boundary() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT pg_sleep(10)")]);
    h.out.clear();
    h.session.on_server_closed("db:5432", h.now, &mut h.out);
    let reply = h.out.to_client.concat();
    assert_eq!(reply[0], b'E');
    assert!(reply.windows(5).any(|w| w == b"08006"));
    assert!(reply.windows(7).any(|w| w == b"db:5432"));
    assert_eq!(h.out.action, Some(Action::Close));
    assert!(matches!(
        h.out.events.as_slice(),
        [Event::QueryFinished(QueryFinished {
            outcome: Outcome::Skipped,
            batched: false,
            ..
        })]
    ));
}

#[test]
fn server_closing_in_the_middle_of_a_message_adds_nothing_to_the_client_stream() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT 1")]);
    let row = be::data_row(&[Some(b"12345")]);
    h.server(&[row.slice(..6)]);
    h.out.clear();
    h.session.on_server_closed("db:5432", h.now, &mut h.out);
    assert!(h.out.to_client.is_empty());
    assert_eq!(h.out.action, Some(Action::Close));
}

#[test]
fn server_closing_after_terminate_is_not_an_error() {
    let mut h = Harness::ready();
    h.client(&[fe::terminate()]);
    h.out.clear();
    h.session.on_server_closed("db:5432", h.now, &mut h.out);
    assert!(h.out.to_client.is_empty());
}

#[test]
fn client_vanishing_with_a_query_running_cancels_it_with_the_servers_key() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT pg_sleep(30)")]);
    h.out.clear();
    h.session.on_client_closed(h.now, &mut h.out);
    assert_eq!(
        h.out.action,
        Some(Action::Cancel(fe::cancel_request(4242, &[1, 2, 3, 4])))
    );
}

#[test]
fn client_leaving_an_idle_connection_cancels_nothing() {
    let mut h = Harness::ready();
    h.out.clear();
    h.session.on_client_closed(h.now, &mut h.out);
    assert_eq!(h.out.action, None);
}

#[test]
fn replication_connections_are_forwarded_but_not_recorded() {
    let mut h = Harness::new(SessionConfig::default());
    let mut buf =
        BytesMut::from(&fe::startup((3, 0), &[("user", "r"), ("replication", "database")])[..]);
    h.session.on_client_startup(&mut buf, &mut h.out);
    assert!(h.session.is_replication());
    h.server(&[be::auth_ok(), be::ready_for_query(b'I')]);
    let sent = h.client(&[fe::query("IDENTIFY_SYSTEM")]);
    assert_eq!(h.out.to_server.to_vec(), vec![sent]);
    h.server(&[
        be::command_complete("IDENTIFY_SYSTEM"),
        be::ready_for_query(b'I'),
    ]);
    assert!(h.events.is_empty());
}

#[test]
fn shutdown_waits_for_idle_and_then_says_57p01_and_terminates_upstream() {
    let mut h = Harness::ready();
    assert!(h.session.is_idle());
    h.client(&[fe::query("BEGIN")]);
    assert!(!h.session.is_idle(), "request in flight");
    h.server(&[be::command_complete("BEGIN"), be::ready_for_query(b'T')]);
    assert!(!h.session.is_idle(), "transaction open");
    h.client(&[fe::query("COMMIT")]);
    h.server(&[be::command_complete("COMMIT"), be::ready_for_query(b'I')]);
    assert!(h.session.is_idle());
    h.out.clear();
    h.session.on_shutdown(&mut h.out);
    assert!(h.out.to_client.concat().windows(5).any(|w| w == b"57P01"));
    assert_eq!(h.out.to_server.to_vec(), vec![fe::terminate()]);
}

#[test]
fn events_carry_the_same_connection_labels_without_copying_them() {
    let mut h = Harness::ready();
    h.client(&[fe::query("SELECT 1")]);
    h.server(&[be::command_complete("SELECT 1"), be::ready_for_query(b'I')]);
    let q = h
        .finished_events()
        .next()
        .map(|q| Arc::clone(&q.connection));
    assert!(q.is_some_and(|c| Arc::ptr_eq(&c, h.session.connection())));
}

#[test]
fn server_closing_after_its_own_fatal_error_adds_nothing() {
    let mut h = Harness::new(SessionConfig::default());
    let mut buf = BytesMut::from(&fe::startup((3, 0), &[("user", "u")])[..]);
    h.session.on_client_startup(&mut buf, &mut h.out);
    let answer = h.server(&[be::error_response(
        "FATAL",
        "28P01",
        "password authentication failed for user \"u\"",
    )]);
    assert_eq!(
        h.out.to_client.to_vec(),
        vec![answer],
        "the server's error, unchanged"
    );
    h.out.clear();
    h.session.on_server_closed("db:5432", h.now, &mut h.out);
    assert!(h.out.to_client.is_empty());
    assert_eq!(h.out.action, Some(Action::Close));
}
