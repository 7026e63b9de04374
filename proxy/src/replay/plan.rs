//! From a captured session to the steps its replay takes: which bytes to write when, where to
//! wait for the server, and (with `--read-only`) which requests to leave out.
//!
//! **Requests.** The messages are cut into requests the way the server answers them: a simple
//! `Query` with the COPY data that follows it, an extended-protocol batch up to and including
//! its `Sync` (prepared statements, portals, pipelines and COPY inside it), a `FunctionCall`,
//! and any message outside those (`Terminate`, a lone `Flush`).
//!
//! **Waiting.** After a request that ends in `ReadyForQuery` (`Query`, `Sync`, `FunctionCall`),
//! the captured client read the answer before sending more; the replay does the same: the next
//! message waits until every request in flight is answered, or the server asks for COPY data.
//! Messages in between are written as soon as their time comes — a pipeline stays a pipeline.
//! Consecutive messages sent within [`COALESCE`] of each other and not separated by a wait are
//! written together, as the client's own write would have carried them.
//!
//! **Answers.** Each step carries what the server will answer its messages with
//! ([`Expect`], from [`script`](super::script)), so that the replay matches the answers to
//! statements without analysing their texts again.
//!
//! **Read-only.** A request is left out, whole, when it would write: a `Query` any of whose
//! statements writes (the fingerprint crate's [`Operation::writes`], `COPY … TO` counted as a
//! read), a batch that parses a writing statement or binds or describes a statement whose
//! `Parse` was left out, and every `FunctionCall` (what the function does is not visible). A
//! request is never cut in half, so the stream the server sees stays well-formed: a `Bind` of a
//! statement whose `Parse` was dropped is dropped with its batch.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pgscope_fingerprint::{split_statements, ConformingStrings, Operation};

use crate::shape::{Shape, Shapes};
use pgscope_protocol::frontend::FrontendMessage;
use pgscope_protocol::tag::frontend as ft;

use super::model::{CapturedSession, Message, Payload};
use super::script::{self, Expect};

/// Messages sent at most this far apart (and not separated by a wait) are written together.
pub(crate) const COALESCE: Duration = Duration::from_millis(1);

/// What a replayed session does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write these bytes at `at` (from the start of the capture), after waiting for the server
    /// to answer everything in flight when `wait` is set.
    Send {
        /// When, from the start of the capture.
        at: Duration,
        /// Wait for the answers to everything sent before.
        wait: bool,
        /// The messages, as on the wire.
        bytes: Bytes,
        /// Whether the last message is `Terminate`.
        terminates: bool,
        /// What the server answers the messages with: a range of [`Plan::expects`].
        expects: Range<usize>,
    },
    /// Send a `CancelRequest` for the session's running query at `at`.
    Cancel {
        /// When, from the start of the capture.
        at: Duration,
    },
}

/// A session's plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// The steps, in order.
    pub(crate) steps: Vec<Step>,
    /// What the server answers the steps' messages with, in order.
    pub(crate) expects: Vec<Expect>,
    /// Requests left out by `--read-only`.
    pub(crate) skipped_requests: u64,
}

/// Cuts the messages into requests — consecutive messages the server answers as a unit — (see
/// the module documentation), as ranges of `messages`.
fn requests(messages: &[Message]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    // What the open request accepts next: nothing, only COPY messages (after a Query), or
    // anything up to its Sync (an extended-protocol batch).
    #[derive(PartialEq)]
    enum Open {
        No,
        Copy,
        Batch,
    }
    let mut open = Open::No;
    for (i, message) in messages.iter().enumerate() {
        let tag = message.tag();
        let copy = matches!(tag, Some(ft::COPY_DATA | ft::COPY_DONE | ft::COPY_FAIL));
        let joins = match open {
            Open::No => false,
            Open::Copy => copy,
            Open::Batch => !matches!(
                tag,
                Some(ft::QUERY | ft::FUNCTION_CALL | ft::TERMINATE) | None
            ),
        };
        match out.last_mut() {
            Some(request) if joins => request.end = i + 1,
            _ => out.push(i..i + 1),
        }
        open = match tag {
            Some(ft::QUERY) => Open::Copy,
            Some(ft::SYNC | ft::FUNCTION_CALL | ft::TERMINATE) | None => Open::No,
            _ if joins && open == Open::Copy => Open::Copy,
            _ => Open::Batch,
        };
    }
    out
}

/// Whether a request must be left out of a read-only replay. `dropped` holds the names of the
/// prepared statements whose `Parse` was left out; it is updated.
fn writes(request: &[Message], analyzer: &Shapes, dropped: &mut HashSet<Bytes>) -> bool {
    let mut parsed_writers = Vec::new();
    let mut writes = false;
    for message in request {
        let Payload::Frontend { tag, body } = &message.payload else {
            continue;
        };
        let Ok(parsed) = FrontendMessage::parse_body(*tag, body) else {
            continue;
        };
        match parsed {
            FrontendMessage::Query { sql } => {
                let sql = String::from_utf8_lossy(sql);
                writes |= split_statements(&sql)
                    .iter()
                    .any(|statement| statement_writes(analyzer, statement));
            }
            FrontendMessage::Parse { name, sql, .. }
                if statement_writes(analyzer, &String::from_utf8_lossy(sql)) =>
            {
                writes = true;
                parsed_writers.push(Bytes::copy_from_slice(name));
            }
            FrontendMessage::Bind { statement, .. }
            | FrontendMessage::Describe {
                kind: b'S',
                name: statement,
            } => writes |= dropped.contains(statement),
            FrontendMessage::FunctionCall { .. } => writes = true,
            _ => {}
        }
    }
    if writes {
        dropped.extend(parsed_writers);
    }
    writes
}

/// Whether one SQL statement writes; `COPY … TO` reads.
fn statement_writes(analyzer: &Shapes, sql: &str) -> bool {
    let operation = analyzer
        .analyze_with(sql, ConformingStrings::Unknown)
        .operation;
    if operation == Operation::Copy {
        return !copies_out(sql);
    }
    operation.writes()
}

/// Whether a `COPY` statement copies out (`TO`) rather than in (`FROM`): the first of the two
/// words outside parentheses and quotes decides.
fn copies_out(sql: &str) -> bool {
    let mut depth = 0usize;
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in sql.chars().chain(std::iter::once(' ')) {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c.is_alphanumeric() || c == '_' => {
                word.push(c);
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            if word.eq_ignore_ascii_case("to") {
                return true;
            }
            if word.eq_ignore_ascii_case("from") {
                return false;
            }
        }
        word.clear();
    }
    false
}

/// A step being gathered: when, whether it waits, its bytes, whether it ends in `Terminate`,
/// and where its expectations start.
type Gathering = Option<(Duration, bool, BytesMut, bool, usize)>;

/// The plan of `session`; with `read_only`, requests that write are left out. `known` holds
/// the shapes of the capture's fingerprints ([`script::expectations`]).
pub(crate) fn plan(
    session: &CapturedSession,
    known: &HashMap<u64, Arc<Shape>>,
    read_only: Option<&Shapes>,
) -> Plan {
    let mut plan = Plan::default();
    let mut expects = script::expectations(session, known);
    let mut dropped = HashSet::new();
    // Whether the last message kept was the end of a request answered with ReadyForQuery.
    let mut after_round_trip = false;
    let mut pending: Gathering = None;
    let flush = |pending: &mut Gathering, plan: &mut Plan| {
        if let Some((at, wait, bytes, terminates, first)) = pending.take() {
            plan.steps.push(Step::Send {
                at,
                wait,
                bytes: bytes.freeze(),
                terminates,
                expects: first..plan.expects.len(),
            });
        }
    };
    for request in requests(&session.messages) {
        if let Some(analyzer) = read_only {
            if writes(&session.messages[request.clone()], analyzer, &mut dropped) {
                plan.skipped_requests += 1;
                continue;
            }
        }
        for i in request {
            let message = &session.messages[i];
            let Some(tag) = message.tag() else {
                flush(&mut pending, &mut plan);
                plan.steps.push(Step::Cancel { at: message.at });
                continue;
            };
            let wait = after_round_trip;
            let joins = pending
                .as_ref()
                .is_some_and(|(at, ..)| !wait && message.at.saturating_sub(*at) <= COALESCE);
            if !joins {
                flush(&mut pending, &mut plan);
                pending = Some((message.at, wait, BytesMut::new(), false, plan.expects.len()));
            }
            if let Some((_, _, bytes, terminates, _)) = pending.as_mut() {
                message.put_wire(bytes);
                *terminates = tag == ft::TERMINATE;
            }
            plan.expects
                .extend(expects.get_mut(i).and_then(Option::take));
            after_round_trip = matches!(tag, ft::QUERY | ft::SYNC | ft::FUNCTION_CALL);
        }
    }
    flush(&mut pending, &mut plan);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgscope_protocol::encode::frontend as enc;

    fn at(ms: u64, wire: Bytes) -> Message {
        Message::from_wire(Duration::from_millis(ms), &wire).unwrap()
    }

    fn session(messages: Vec<Message>) -> CapturedSession {
        CapturedSession {
            messages,
            ..CapturedSession::default()
        }
    }

    fn sends(plan: &Plan) -> Vec<(u64, bool, Vec<u8>)> {
        plan.steps
            .iter()
            .filter_map(|step| match step {
                Step::Send {
                    at, wait, bytes, ..
                } => Some((at.as_millis() as u64, *wait, split_tags(bytes))),
                Step::Cancel { .. } => None,
            })
            .collect()
    }

    fn split_tags(mut bytes: &[u8]) -> Vec<u8> {
        let mut tags = Vec::new();
        while bytes.len() >= 5 {
            let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
            tags.push(bytes[0]);
            bytes = &bytes[1 + len..];
        }
        tags
    }

    /// The plan of a session that pipelines Parse/Bind/Execute/Sync at 0 ms, sends `sql` as a
    /// simple query at 5 ms and terminates at 9 ms.
    fn pipeline_then_query(sql: &str) -> Plan {
        plan(
            &session(vec![
                at(0, enc::parse("", "select $1", &[])),
                at(0, enc::bind("", "", &[Some(b"1")])),
                at(0, enc::execute("", 0)),
                at(0, enc::sync()),
                at(5, enc::query(sql)),
                at(9, enc::terminate()),
            ]),
            &HashMap::new(),
            None,
        )
    }

    #[test]
    fn a_pipeline_is_written_together_and_the_next_request_waits_for_its_answers() {
        let plan = pipeline_then_query("select 2");
        assert_eq!(
            sends(&plan),
            vec![
                (0, false, b"PBES".to_vec()),
                (5, true, b"Q".to_vec()),
                (9, true, b"X".to_vec()),
            ]
        );
        assert!(matches!(
            plan.steps.last(),
            Some(Step::Send {
                terminates: true,
                ..
            })
        ));
    }

    #[test]
    fn each_step_carries_what_the_server_answers_its_messages_with() {
        let plan = pipeline_then_query("select 2; select 3");
        let ranges: Vec<Range<usize>> = plan
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Send { expects, .. } => Some(expects.clone()),
                Step::Cancel { .. } => None,
            })
            .collect();
        assert_eq!(ranges, vec![0..4, 4..5, 5..5]);
        assert!(matches!(plan.expects[2], Expect::Execute(Some(_))));
        assert!(matches!(&plan.expects[4], Expect::Simple(s) if s.len() == 2));
    }

    #[test]
    fn copy_data_follows_its_query_after_the_wait_for_the_copy_in_response() {
        let plan = plan(
            &session(vec![
                at(0, enc::query("copy t from stdin")),
                at(1, enc::copy_data(b"1\n")),
                at(1, enc::copy_done()),
            ]),
            &HashMap::new(),
            None,
        );
        assert_eq!(
            sends(&plan),
            vec![(0, false, b"Q".to_vec()), (1, true, b"dc".to_vec())]
        );
    }

    #[test]
    fn read_only_drops_writing_requests_whole_and_binds_of_dropped_statements() {
        let analyzer = Shapes::new(64, 4096);
        let plan = plan(
            &session(vec![
                at(0, enc::query("begin")),
                at(1, enc::query("update t set a = 1")),
                at(2, enc::parse("ins", "insert into t values ($1)", &[])),
                at(2, enc::sync()),
                at(3, enc::parse("sel", "select a from t", &[])),
                at(3, enc::sync()),
                at(4, enc::bind("", "ins", &[Some(b"1")])),
                at(4, enc::execute("", 0)),
                at(4, enc::sync()),
                at(5, enc::bind("", "sel", &[])),
                at(5, enc::execute("", 0)),
                at(5, enc::sync()),
                at(6, enc::query("copy t from stdin")),
                at(6, enc::copy_data(b"1\n")),
                at(6, enc::copy_done()),
                at(7, enc::query("copy (select 1) to stdout")),
                at(8, enc::query("commit")),
            ]),
            &HashMap::new(),
            Some(&analyzer),
        );
        let tags: Vec<Vec<u8>> = sends(&plan).into_iter().map(|(_, _, t)| t).collect();
        assert_eq!(
            tags,
            vec![
                b"Q".to_vec(),
                b"PS".to_vec(),
                b"BES".to_vec(),
                b"Q".to_vec(),
                b"Q".to_vec()
            ]
        );
        assert_eq!(plan.skipped_requests, 4);
    }

    #[test]
    fn a_cancel_is_its_own_step_and_never_waits() {
        let plan = plan(
            &session(vec![
                at(0, enc::query("select pg_sleep(10)")),
                Message {
                    at: Duration::from_millis(50),
                    payload: Payload::Cancel,
                },
                at(60, enc::query("select 1")),
            ]),
            &HashMap::new(),
            None,
        );
        assert_eq!(plan.steps.len(), 3);
        assert_eq!(
            plan.steps[1],
            Step::Cancel {
                at: Duration::from_millis(50)
            }
        );
    }

    #[test]
    fn copy_direction_is_read_from_the_first_of_to_and_from_outside_parentheses() {
        assert!(copies_out("COPY (select a from t) TO STDOUT"));
        assert!(copies_out("copy t to stdout"));
        assert!(!copies_out("copy t (a, b) from stdin"));
        assert!(!copies_out("copy \"to\" from stdin"));
    }
}
