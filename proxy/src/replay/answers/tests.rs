//! The replay's reading of answers, on hand-built server messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pgscope_exporters::view::{self, Query, Row};
use pgscope_fingerprint::ConformingStrings;
use pgscope_protocol::encode::backend as be;

use super::{Answers, Sink};
use crate::observer::ConnectionInfo;
use crate::recorder::{Recorder, RecorderSettings};
use crate::replay::script::{Expect, Stmt};
use crate::shape::Shapes;

struct Fixture {
    recorder: Recorder,
    shapes: Arc<Shapes>,
    start: Instant,
}

fn fixture() -> Fixture {
    let shapes = Arc::new(Shapes::new(64, 4096));
    Fixture {
        recorder: Recorder::new(RecorderSettings::default(), Arc::clone(&shapes)),
        shapes,
        start: Instant::now(),
    }
}

impl Fixture {
    fn answers(&self) -> Answers<'_, '_> {
        Answers::new(Sink {
            recorder: &self.recorder,
            shapes: &self.shapes,
            connection: Arc::new(ConnectionInfo {
                database: "db".into(),
                user: "u".into(),
                application_name: "app".into(),
                capture: None,
            }),
        })
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// The recorded rows by query text: calls, errors, skipped, rows.
    fn rows(&self) -> Vec<(String, u64, u64, u64, u64)> {
        let mut rows: Vec<(String, u64, u64, u64, u64)> =
            view::rows(&self.recorder, &Query::default(), false)
                .0
                .into_iter()
                .map(|r: Row| (r.query, r.calls, r.error_count, r.skipped, r.rows))
                .collect();
        rows.sort();
        rows
    }
}

fn stmt(sql: &'static str) -> Arc<Stmt> {
    Stmt::new(Bytes::from_static(sql.as_bytes()), ConformingStrings::On)
}

fn chunk(messages: &[Bytes]) -> Bytes {
    messages.concat().into()
}

#[test]
fn a_simple_query_is_recorded_with_its_rows_and_ends_with_ready_for_query() {
    let f = fixture();
    let expects = [Expect::Simple(
        vec![stmt("select a from t where b = 1")].into(),
    )];
    let mut answers = f.answers();
    answers.on_read(
        chunk(&[be::backend_key_data(7, b"key!"), be::ready_for_query(b'I')]),
        f.at(0),
    );
    assert!(answers.is_ready());
    assert_eq!(answers.backend_key().map(|(pid, _)| pid), Some(7));
    answers.on_written(&expects, f.at(1));
    assert_eq!(answers.in_flight(), 1);
    answers.on_read(
        chunk(&[
            be::row_description(&["a"]),
            be::data_row(&[Some(b"1")]),
            be::command_complete("SELECT 1"),
            be::ready_for_query(b'I'),
        ]),
        f.at(3),
    );
    assert_eq!(answers.in_flight(), 0);
    assert_eq!(
        f.rows(),
        vec![("select a from t where b = $1".into(), 1, 0, 0, 1)]
    );
}

#[test]
fn an_error_in_a_pipeline_skips_the_rest_of_its_batch_up_to_sync() {
    let f = fixture();
    let one = stmt("insert into t values ($1)");
    let two = stmt("select 2");
    let expects = [
        Expect::Parse(Arc::clone(&one)),
        Expect::Bind(Some(Arc::clone(&one))),
        Expect::Execute(Some(Arc::clone(&one))),
        Expect::Parse(Arc::clone(&two)),
        Expect::Bind(Some(Arc::clone(&two))),
        Expect::Execute(Some(Arc::clone(&two))),
        Expect::Sync,
        Expect::Execute(Some(Arc::clone(&two))),
        Expect::Sync,
    ];
    let mut answers = f.answers();
    answers.on_written(&expects[..7], f.at(0));
    answers.on_read(
        chunk(&[
            be::parse_complete(),
            be::bind_complete(),
            be::error_response("ERROR", "23505", "duplicate key"),
        ]),
        f.at(2),
    );
    // Written after the error, before the server's ReadyForQuery: skipped up to its Sync.
    answers.on_written(&expects[7..], f.at(3));
    answers.on_read(
        chunk(&[be::ready_for_query(b'I'), be::ready_for_query(b'I')]),
        f.at(4),
    );
    assert_eq!(answers.in_flight(), 0);
    assert_eq!(
        f.rows(),
        vec![
            ("insert into t values ($1)".into(), 1, 1, 0, 0),
            ("select $1".into(), 0, 0, 2, 0),
        ]
    );
}

#[test]
fn a_failing_statement_of_a_multi_statement_query_skips_the_rest() {
    let f = fixture();
    let expects = [Expect::Simple(
        vec![stmt("select 1"), stmt("select x"), stmt("select 3")].into(),
    )];
    let mut answers = f.answers();
    answers.on_written(&expects, f.at(0));
    answers.on_read(
        chunk(&[
            be::command_complete("SELECT 1"),
            be::error_response("ERROR", "42703", "no column x"),
            be::ready_for_query(b'I'),
        ]),
        f.at(5),
    );
    let rows = view::rows(&f.recorder, &Query::default(), false).0;
    let total: u64 = rows.iter().map(|r| r.calls).sum();
    let skipped: u64 = rows.iter().map(|r| r.skipped).sum();
    let errors: u64 = rows.iter().map(|r| r.error_count).sum();
    assert_eq!((total, errors, skipped), (2, 1, 1));
    assert!(rows
        .iter()
        .all(|r| r.calls == 0 || r.batched_calls == r.calls));
}

#[test]
fn copy_in_is_reported_until_its_command_completes_and_a_closed_connection_skips_the_rest() {
    let f = fixture();
    let expects = [
        Expect::Simple(vec![stmt("copy t from stdin")].into()),
        Expect::Simple(vec![stmt("select 1")].into()),
    ];
    let mut answers = f.answers();
    answers.on_written(&expects[..1], f.at(0));
    answers.on_read(be::copy_in_response(1), f.at(1));
    assert!(answers.copy_in());
    answers.on_read(chunk(&[be::command_complete("COPY 2")]), f.at(2));
    assert!(!answers.copy_in());
    answers.on_read(be::ready_for_query(b'I'), f.at(2));
    answers.on_written(&expects[1..], f.at(3));
    answers.abandon(f.at(4));
    assert_eq!(
        f.rows(),
        vec![
            ("copy t from stdin".into(), 1, 0, 0, 2),
            ("select $1".into(), 0, 0, 1, 0),
        ]
    );
}

#[test]
fn a_message_split_across_reads_is_matched_once_whole() {
    let f = fixture();
    let expects = [Expect::Simple(vec![stmt("select 1")].into())];
    let mut answers = f.answers();
    answers.on_written(&expects, f.at(0));
    let whole = chunk(&[be::command_complete("SELECT 1"), be::ready_for_query(b'I')]);
    answers.on_read(whole.slice(..3), f.at(1));
    answers.on_read(whole.slice(3..), f.at(2));
    assert_eq!(answers.in_flight(), 0);
    assert_eq!(f.rows(), vec![("select $1".into(), 1, 0, 0, 1)]);
}
