//! Session tests: the extended protocol, pipelines, errors mid-pipeline, chunking.

use std::sync::Arc;

use bytes::Bytes;
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::tests::{error, Harness, OK};
use crate::observer::{Event, Outcome, Protocol};

fn execute_unnamed(sql: &str) -> Vec<Bytes> {
    vec![
        fe::parse("", sql, &[]),
        fe::bind("", "", &[Some(b"1")]),
        fe::describe(b'P', ""),
        fe::execute("", 0),
        fe::sync(),
    ]
}

#[test]
fn extended_query_records_the_execute_with_its_parse_text_and_rows() {
    let mut h = Harness::ready();
    h.client(&execute_unnamed("SELECT * FROM users WHERE id = $1"));
    h.advance(3);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::row_description(&["id"]),
        be::data_row(&[Some(b"1")]),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(
        h.finished(),
        vec![(
            "SELECT * FROM users WHERE id = $1".into(),
            OK,
            Some(1),
            3,
            Protocol::Extended
        )]
    );
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn a_prepared_statement_is_one_shared_statement_however_often_it_runs() {
    let mut h = Harness::ready();
    h.client(&[fe::parse("s1", "SELECT $1::int", &[]), fe::sync()]);
    h.server(&[be::parse_complete(), be::ready_for_query(b'I')]);
    for _ in 0..3 {
        h.client(&[
            fe::bind("", "s1", &[Some(b"7")]),
            fe::execute("", 0),
            fe::sync(),
        ]);
        h.server(&[
            be::bind_complete(),
            be::data_row(&[Some(b"7")]),
            be::command_complete("SELECT 1"),
            be::ready_for_query(b'I'),
        ]);
    }
    let statements: Vec<_> = h
        .finished_events()
        .map(|q| Arc::clone(&q.statement))
        .collect();
    assert_eq!(statements.len(), 3);
    assert!(statements.iter().all(|s| Arc::ptr_eq(s, &statements[0])));
}

#[test]
fn the_unnamed_statement_is_overwritten_by_each_parse() {
    let mut h = Harness::ready();
    for sql in ["SELECT 1", "SELECT 2"] {
        h.client(&execute_unnamed(sql));
        h.server(&[
            be::parse_complete(),
            be::bind_complete(),
            be::no_data(),
            be::command_complete("SELECT 1"),
            be::ready_for_query(b'I'),
        ]);
    }
    let texts: Vec<_> = h.finished().into_iter().map(|f| f.0).collect();
    assert_eq!(texts, ["SELECT 1", "SELECT 2"]);
}

#[test]
fn pipeline_error_in_the_middle_fails_it_and_skips_the_rest_until_sync() {
    let mut h = Harness::ready();
    let mut pipeline = Vec::new();
    for sql in [
        "INSERT INTO a VALUES (1)",
        "INSERT INTO b VALUES (1)",
        "INSERT INTO c VALUES (1)",
    ] {
        pipeline.push(fe::parse("", sql, &[]));
        pipeline.push(fe::bind("", "", &[]));
        pipeline.push(fe::execute("", 0));
    }
    pipeline.push(fe::sync());
    pipeline.extend(execute_unnamed("SELECT 42"));
    h.client(&pipeline);
    h.advance(2);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::command_complete("INSERT 0 1"),
    ]);
    h.advance(3);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::error_response("ERROR", "23505", "duplicate key"),
    ]);
    // Before the Sync's ReadyForQuery arrives, the third is already resolved.
    assert_eq!(h.finished().len(), 3);
    h.server(&[be::ready_for_query(b'I')]);
    h.advance(1);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::no_data(),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(
        h.finished(),
        vec![
            (
                "INSERT INTO a VALUES (1)".into(),
                OK,
                Some(1),
                2,
                Protocol::Extended
            ),
            (
                "INSERT INTO b VALUES (1)".into(),
                error("23505"),
                None,
                3,
                Protocol::Extended
            ),
            (
                "INSERT INTO c VALUES (1)".into(),
                Outcome::Skipped,
                None,
                0,
                Protocol::Extended
            ),
            ("SELECT 42".into(), OK, Some(1), 1, Protocol::Extended),
        ]
    );
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn after_an_error_with_no_sync_sent_yet_later_requests_are_skipped_until_sync() {
    let mut h = Harness::ready();
    h.client(&[
        fe::parse("", "SELECT 1/0", &[]),
        fe::bind("", "", &[]),
        fe::execute("", 0),
        fe::flush(),
    ]);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::error_response("ERROR", "22012", "division by zero"),
    ]);
    assert_eq!(h.session.in_flight(), 0);
    // The server ignores these until Sync.
    h.client(&[
        fe::parse("", "SELECT 2", &[]),
        fe::bind("", "", &[]),
        fe::execute("", 0),
    ]);
    assert_eq!(h.session.in_flight(), 0);
    h.client(&[fe::sync()]);
    h.server(&[be::ready_for_query(b'I')]);
    let outcomes: Vec<_> = h.finished().into_iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(
        outcomes,
        vec![
            ("SELECT 1/0".into(), error("22012")),
            ("SELECT 2".into(), Outcome::Skipped),
        ]
    );
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn a_failed_parse_is_recorded_as_a_prepare_error_and_keeps_the_old_definition() {
    let mut h = Harness::ready();
    h.client(&[fe::parse("s", "SELECT 1", &[]), fe::sync()]);
    h.server(&[be::parse_complete(), be::ready_for_query(b'I')]);
    h.client(&[fe::parse("s", "SELEC 2", &[]), fe::sync()]);
    h.server(&[
        be::error_response("ERROR", "42601", "syntax error"),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::bind("", "s", &[]), fe::execute("", 0), fe::sync()]);
    h.server(&[
        be::bind_complete(),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    let records: Vec<_> = h.finished().into_iter().map(|f| (f.0, f.1, f.4)).collect();
    assert_eq!(
        records,
        vec![
            ("SELEC 2".into(), error("42601"), Protocol::Prepare),
            ("SELECT 1".into(), OK, Protocol::Extended),
        ]
    );
}

#[test]
fn portal_suspended_counts_the_rows_sent_so_far() {
    let mut h = Harness::ready();
    h.client(&[
        fe::parse("", "SELECT generate_series(1, 10)", &[]),
        fe::bind("c", "", &[]),
        fe::execute("c", 2),
        fe::flush(),
    ]);
    h.server(&[
        be::parse_complete(),
        be::bind_complete(),
        be::data_row(&[Some(b"1")]),
        be::data_row(&[Some(b"2")]),
        be::portal_suspended(),
    ]);
    h.client(&[fe::execute("c", 0), fe::sync()]);
    h.server(&[
        be::data_row(&[Some(b"3")]),
        be::command_complete("SELECT 8"),
        be::ready_for_query(b'I'),
    ]);
    let rows: Vec<_> = h.finished().into_iter().map(|f| f.2).collect();
    assert_eq!(rows, [Some(2), Some(8)]);
}

#[test]
fn close_forgets_the_statement_and_a_new_parse_of_the_name_is_used() {
    let mut h = Harness::ready();
    h.client(&[fe::parse("s", "SELECT 'old'", &[]), fe::sync()]);
    h.server(&[be::parse_complete(), be::ready_for_query(b'I')]);
    h.client(&[
        fe::close(b'S', "s"),
        fe::parse("s", "SELECT 'new'", &[]),
        fe::sync(),
    ]);
    h.server(&[
        be::close_complete(),
        be::parse_complete(),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::bind("", "s", &[]), fe::execute("", 0), fe::sync()]);
    h.server(&[
        be::bind_complete(),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(h.finished()[0].0, "SELECT 'new'");
    assert_eq!(h.session.in_flight(), 0);
}

#[test]
fn describe_statement_answers_retire_the_describe() {
    let mut h = Harness::ready();
    h.client(&[
        fe::parse("s", "SELECT $1", &[]),
        fe::describe(b'S', "s"),
        fe::sync(),
    ]);
    h.server(&[
        be::parse_complete(),
        be::parameter_description(&[23]),
        be::row_description(&["x"]),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(h.session.in_flight(), 0);
    assert!(h.finished().is_empty());
}

#[test]
fn pipelined_executes_are_timed_from_the_previous_completion() {
    let mut h = Harness::ready();
    h.client(&[
        fe::bind("", "", &[]),
        fe::parse("a", "SELECT 1", &[]),
        fe::parse("b", "SELECT 2", &[]),
        fe::sync(),
    ]);
    h.server(&[
        be::bind_complete(),
        be::parse_complete(),
        be::parse_complete(),
        be::ready_for_query(b'I'),
    ]);
    h.advance(100);
    h.client(&[
        fe::bind("", "a", &[]),
        fe::execute("", 0),
        fe::bind("", "b", &[]),
        fe::execute("", 0),
        fe::sync(),
    ]);
    h.advance(4);
    h.server(&[be::bind_complete(), be::command_complete("SELECT 1")]);
    h.advance(6);
    h.server(&[
        be::bind_complete(),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    let latencies: Vec<_> = h.finished().into_iter().map(|f| (f.0, f.3)).collect();
    assert_eq!(
        latencies,
        vec![("SELECT 1".into(), 4), ("SELECT 2".into(), 6)]
    );
}

#[test]
fn messages_fed_one_byte_at_a_time_give_the_same_events() {
    let mut whole = Harness::ready();
    let mut bytewise = Harness::ready();
    let client: Vec<Bytes> = execute_unnamed("SELECT * FROM t WHERE a = $1");
    let server = [
        be::parse_complete(),
        be::bind_complete(),
        be::row_description(&["a"]),
        be::data_row(&[Some(b"1")]),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ];
    whole.client(&client);
    whole.server(&server);
    for byte in client.concat() {
        bytewise.client(&[Bytes::copy_from_slice(&[byte])]);
    }
    for byte in server.concat() {
        bytewise.server(&[Bytes::copy_from_slice(&[byte])]);
    }
    assert_eq!(whole.finished(), bytewise.finished());
    assert_eq!(bytewise.finished().len(), 1);
}

#[test]
fn function_call_is_retired_by_ready_for_query() {
    let mut h = Harness::ready();
    h.client(&[fe::function_call(1598, &[])]);
    assert_eq!(h.session.in_flight(), 1);
    h.server(&[
        be::function_call_response(Some(b"0.5")),
        be::ready_for_query(b'I'),
    ]);
    assert_eq!(h.session.in_flight(), 0);
    assert!(h
        .events
        .iter()
        .all(|e| !matches!(e, Event::QueryFinished(_))));
}
