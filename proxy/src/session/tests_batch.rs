//! A multi-statement simple `Query`: its statements' events wait for the server's
//! `ReadyForQuery`, which gives each batched statement the whole query's time.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::{Action, Output, Session, SessionConfig};
use crate::observer::{Batch, Event, Outcome, QueryFinished};

fn running(now: Instant) -> Session {
    let mut s = Session::new(SessionConfig::default());
    let mut out = Output::default();
    let startup = fe::startup((3, 0), &[("user", "alice")]);
    s.on_client_startup(&mut BytesMut::from(&startup[..]), &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    s.on_server_data(be::auth_ok(), now, &mut out);
    s.on_server_data(be::ready_for_query(b'I'), now, &mut out);
    s
}

fn finished(out: &Output) -> Vec<&QueryFinished> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::QueryFinished(q) => Some(q),
            _ => None,
        })
        .collect()
}

#[test]
fn batched_statements_get_the_whole_query_time_at_ready_for_query() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut s = running(t0);
    let mut out = Output::default();
    s.on_client_data(fe::query("SELECT 1; SELECT pg_sleep(0.3)"), ms(1), &mut out);
    out.clear();
    s.on_server_data(be::command_complete("SELECT 1"), ms(5), &mut out);
    s.on_server_data(be::command_complete("SELECT 1"), ms(305), &mut out);
    assert!(finished(&out).is_empty(), "{:?}", out.events);
    s.on_server_data(be::ready_for_query(b'I'), ms(306), &mut out);
    let done = finished(&out);
    assert_eq!(done.len(), 2, "{:?}", out.events);
    let batch = Some(Batch {
        duration: Duration::from_millis(305),
        statements: 2,
    });
    for query in &done {
        assert!(query.batched);
        assert_eq!(query.batch, batch);
        assert_eq!(query.rows, Some(1));
    }
    assert_eq!(&*done[0].statement.text, "SELECT 1");
    assert_eq!(&*done[1].statement.text, "SELECT pg_sleep(0.3)");
}

#[test]
fn an_error_in_a_batch_keeps_the_order_and_the_batch_time() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut s = running(t0);
    let mut out = Output::default();
    s.on_client_data(fe::query("SELECT 1; SELECT 1/0; SELECT 2"), ms(0), &mut out);
    out.clear();
    s.on_server_data(be::command_complete("SELECT 1"), ms(2), &mut out);
    s.on_server_data(
        be::error_response("ERROR", "22012", "division by zero"),
        ms(3),
        &mut out,
    );
    assert!(finished(&out).is_empty(), "{:?}", out.events);
    s.on_server_data(be::ready_for_query(b'I'), ms(4), &mut out);
    let done = finished(&out);
    let outcomes: Vec<&Outcome> = done.iter().map(|q| &q.outcome).collect();
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                Outcome::Ok,
                Outcome::Error {
                    sqlstate: [b'2', b'2', b'0', b'1', b'2']
                },
                Outcome::Skipped
            ]
        ),
        "{outcomes:?}"
    );
    let batch = Some(Batch {
        duration: Duration::from_millis(4),
        statements: 3,
    });
    assert_eq!((done[0].batch, done[1].batch), (batch, batch));
    assert_eq!(done[2].batch, None);
}

#[test]
fn a_lone_statement_is_reported_at_once_without_a_batch() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let mut out = Output::default();
    s.on_client_data(fe::query("SELECT 1"), t0, &mut out);
    out.clear();
    s.on_server_data(
        be::command_complete("SELECT 1"),
        t0 + Duration::from_millis(2),
        &mut out,
    );
    let done = finished(&out);
    assert_eq!(done.len(), 1);
    assert!(!done[0].batched);
    assert_eq!(done[0].batch, None);
}
