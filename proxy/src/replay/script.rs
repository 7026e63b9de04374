//! What the server will answer each message of a captured session with, and which statement
//! each answer finishes — worked out once, before the replay starts, so that the replay reads
//! the server's answers without analysing a statement's text again.
//!
//! **Statements and names.** The messages are walked in order as the proxy's session tracker
//! walks them: a `Query` holds its statements (split as the tracker splits them, under the
//! session's `standard_conforming_strings`), a `Parse` defines a statement under its name, a
//! `Bind` makes a portal of a named statement, `Describe` and `Execute` name one of them. Each
//! message that gets an answer becomes an [`Expect`]; the replay's [`Answers`] matches the
//! server's responses to them.
//!
//! **Fingerprints from the capture.** The capture holds what the server answered every
//! statement, in order, with its fingerprint ([`Answered`]): the answers to simple-protocol
//! statements are the `Query` statements in order, those to `Execute`s the `Execute`s in order
//! (PostgreSQL answers strictly in order, and the tracker that wrote the capture resolved every
//! statement once — completed, failed or skipped). When both counts agree, each statement takes
//! its captured fingerprint's [`Shape`] (one analysis per fingerprint, made by the loader),
//! and the replay records it under that shape. When they do not (a capture that lost records,
//! a session whose tracking overflowed, a capture built by hand), or for a statement that was
//! never answered (a `Parse` whose statement never ran), the text is analysed the first time
//! the replay needs it, as the proxy would analyse it.
//!
//! [`Answers`]: super::answers::Answers

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use pgscope_fingerprint::{split_statements_with, ConformingStrings};
use pgscope_protocol::frontend::FrontendMessage;

use super::model::{CapturedSession, Payload, Sent};
use crate::shape::{Shape, Shapes};

/// One SQL statement of the plan: a statement of a simple `Query` or the text of a `Parse`.
#[derive(Debug)]
pub(crate) struct Stmt {
    /// The text, a slice of the captured message.
    sql: Bytes,
    /// How its literals are read.
    strings: ConformingStrings,
    /// Its shape: the captured fingerprint's, or analysed on first use.
    shape: OnceLock<Arc<Shape>>,
}

impl Stmt {
    pub(crate) fn new(sql: Bytes, strings: ConformingStrings) -> Arc<Stmt> {
        Arc::new(Stmt {
            sql,
            strings,
            shape: OnceLock::new(),
        })
    }

    /// Its shape, analysed from its text if the capture did not give it.
    pub(crate) fn shape(&self, shapes: &Shapes) -> &Arc<Shape> {
        self.shape.get_or_init(|| {
            shapes.analyze_with(&pgscope_protocol::text::lossy(&self.sql), self.strings)
        })
    }

    /// Whether its shape is known without analysing it.
    #[cfg(test)]
    pub(crate) fn is_known(&self) -> bool {
        self.shape.get().is_some()
    }
}

/// What the server answers one message with (the proxy's tracker's request kinds).
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// A simple `Query`: each statement is finished by `CommandComplete`,
    /// `EmptyQueryResponse` or `ErrorResponse` (which skips the rest); `ReadyForQuery` ends it.
    Simple(Box<[Arc<Stmt>]>),
    /// `ParseComplete` or an error.
    Parse(Arc<Stmt>),
    /// `BindComplete` or an error; the statement bound, when its `Parse` was seen.
    Bind(Option<Arc<Stmt>>),
    /// `NoData` or `RowDescription` (after `ParameterDescription`), or an error.
    Describe(Option<Arc<Stmt>>),
    /// `CommandComplete`, `EmptyQueryResponse`, `PortalSuspended` or an error.
    Execute(Option<Arc<Stmt>>),
    /// `CloseComplete`.
    Close,
    /// `ReadyForQuery`.
    Sync,
    /// `FunctionCallResponse` or an error, then `ReadyForQuery`.
    FunctionCall,
}

impl Expect {
    /// Whether `ReadyForQuery` is its last answer.
    pub(crate) fn ends_with_ready(&self) -> bool {
        matches!(
            self,
            Expect::Simple(_) | Expect::Sync | Expect::FunctionCall
        )
    }
}

/// Statements or portals by name (foldhash, as the proxy's tracker: names are looked up for
/// every `Bind` and `Execute`).
type ByName<V> = HashMap<Bytes, V, foldhash::fast::RandomState>;

/// What the server will answer each of `session`'s messages with (`None`: nothing), the
/// statements carrying their captured shapes where the capture gives them (see the module
/// documentation); `known` holds the shapes of the capture's fingerprints.
pub(crate) fn expectations(
    session: &CapturedSession,
    known: &HashMap<u64, Arc<Shape>>,
) -> Vec<Option<Expect>> {
    let strings = session.strings;
    let mut statements: ByName<Arc<Stmt>> = ByName::default();
    let mut portals: ByName<Option<Arc<Stmt>>> = ByName::default();
    let name = |body: &Bytes, name: &[u8]| body.slice_ref(name);
    let expects: Vec<Option<Expect>> = session
        .messages
        .iter()
        .map(|message| {
            let Payload::Frontend { tag, body } = &message.payload else {
                return None;
            };
            let parsed = FrontendMessage::parse_body(*tag, body).ok()?;
            Some(match parsed {
                FrontendMessage::Query { sql } => Expect::Simple(split(body, sql, strings)),
                FrontendMessage::Parse { name: n, sql, .. } => {
                    let stmt = Stmt::new(body.slice_ref(sql), strings);
                    statements.insert(name(body, n), Arc::clone(&stmt));
                    Expect::Parse(stmt)
                }
                FrontendMessage::Bind { portal, statement } => {
                    let stmt = statements.get(statement).cloned();
                    portals.insert(name(body, portal), stmt.clone());
                    Expect::Bind(stmt)
                }
                FrontendMessage::Describe { kind, name } => Expect::Describe(if kind == b'S' {
                    statements.get(name).cloned()
                } else {
                    portals.get(name).cloned().flatten()
                }),
                FrontendMessage::Execute { portal, .. } => {
                    Expect::Execute(portals.get(portal).cloned().flatten())
                }
                FrontendMessage::Close { kind, name } => {
                    if kind == b'S' {
                        statements.remove(name);
                    } else {
                        portals.remove(name);
                    }
                    Expect::Close
                }
                FrontendMessage::Sync => Expect::Sync,
                FrontendMessage::FunctionCall { .. } => Expect::FunctionCall,
                _ => return None,
            })
        })
        .collect();
    give_captured_shapes(&expects, session, known);
    expects
}

/// A `Query`'s statements, split as the proxy's tracker splits them (`sql` is a slice of
/// `body`).
fn split(body: &Bytes, sql: &[u8], strings: ConformingStrings) -> Box<[Arc<Stmt>]> {
    if let Some(statement) = single_plain(sql) {
        if statement.is_empty() {
            return Box::default();
        }
        return Box::new([Stmt::new(body.slice_ref(statement), strings)]);
    }
    let text = pgscope_protocol::text::lossy(sql);
    split_statements_with(&text, strings)
        .into_iter()
        .map(|statement| {
            let statement = statement.trim();
            let sql = match &text {
                std::borrow::Cow::Borrowed(_) => body.slice_ref(statement.as_bytes()),
                std::borrow::Cow::Owned(_) => Bytes::copy_from_slice(statement.as_bytes()),
            };
            Stmt::new(sql, strings)
        })
        .collect()
}

/// The SQL whitespace the statement splitter trims.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// The one statement of a `Query` text (empty: none) when nothing in it can hide a `;` — no
/// quote, dollar sign or comment opener, and no `ATOMIC` where there is a `;` — and its only
/// `;`, if any, ends it: what the fingerprint crate's splitter returns for such a text, in one
/// pass over its bytes instead of its several scans (most simple-protocol statements, `SELECT
/// … WHERE aid = 42;`). `None` for any other text.
fn single_plain(sql: &[u8]) -> Option<&[u8]> {
    let mut semicolon = None;
    let mut atomic = false;
    let mut previous = 0u8;
    for (i, &b) in sql.iter().enumerate() {
        match b {
            b'\'' | b'"' | b'$' => return None,
            b'-' if previous == b'-' => return None,
            b'*' if previous == b'/' => return None,
            b';' if semicolon.is_some() => return None,
            b';' => semicolon = Some(i),
            b'a' | b'A' => {
                atomic |= sql
                    .get(i + 1..i + 6)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(b"tomic"));
            }
            _ => {}
        }
        if semicolon.is_some_and(|at| at < i) && !is_space(b) {
            return None;
        }
        previous = b;
    }
    if semicolon.is_some() && atomic {
        return None;
    }
    let statement = &sql[..semicolon.unwrap_or(sql.len())];
    let start = statement.iter().position(|&b| !is_space(b))?;
    let end = statement
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    Some(&statement[start..end])
}

/// Gives the statements the captured answers' shapes when the answers line up with them:
/// simple-protocol answers with the `Query` statements, `Execute` answers with the `Execute`s.
fn give_captured_shapes(
    expects: &[Option<Expect>],
    session: &CapturedSession,
    known: &HashMap<u64, Arc<Shape>>,
) {
    let simple: Vec<&Arc<Stmt>> = expects
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Expect::Simple(statements) => Some(statements.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    let executed: Vec<&Arc<Stmt>> = expects
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Expect::Execute(statement) => statement.as_ref(),
            _ => None,
        })
        .collect();
    let answered = |sent: Sent| {
        session
            .answered
            .iter()
            .filter(move |a| a.sent == sent)
            .map(|a| a.fingerprint)
    };
    for (statements, sent) in [(simple, Sent::Simple), (executed, Sent::Extended)] {
        if answered(sent).count() != statements.len() {
            if !statements.is_empty() {
                log::debug!(
                    "session {}: the captured answers do not line up with its {sent:?} \
                     statements; their texts are analysed again",
                    session.id
                );
            }
            continue;
        }
        for (stmt, fingerprint) in statements.into_iter().zip(answered(sent)) {
            if let Some(shape) = known.get(&fingerprint) {
                // A prepared statement executed again already has its shape.
                let _ = stmt.shape.set(Arc::clone(shape));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::model::{Answered, Message};
    use pgscope_protocol::encode::frontend as enc;
    use std::time::Duration;

    fn session(wires: &[Bytes], answered: Vec<Answered>) -> CapturedSession {
        CapturedSession {
            messages: wires
                .iter()
                .map(|w| Message::from_wire(Duration::ZERO, w).unwrap())
                .collect(),
            answered,
            ..CapturedSession::default()
        }
    }

    fn known(shapes: &Shapes, texts: &[&str]) -> HashMap<u64, Arc<Shape>> {
        texts
            .iter()
            .map(|t| {
                let shape = shapes.analyze(t);
                (shape.fingerprint.0, shape)
            })
            .collect()
    }

    fn answered(sent: Sent, shapes: &Shapes, text: &str) -> Answered {
        Answered {
            sent,
            fingerprint: shapes.analyze(text).fingerprint.0,
        }
    }

    #[test]
    fn statements_take_the_captured_shapes_in_order_when_the_answers_line_up() {
        let shapes = Shapes::new(64, 4096);
        let known = known(&shapes, &["select 1", "select a from t where b = $1"]);
        let session = session(
            &[
                enc::query("select 1; select 2"),
                enc::parse("s", "select a from t where b = $1", &[]),
                enc::bind("", "s", &[Some(b"1")]),
                enc::execute("", 0),
                enc::sync(),
            ],
            vec![
                answered(Sent::Simple, &shapes, "select 1"),
                answered(Sent::Simple, &shapes, "select 2"),
                answered(Sent::Extended, &shapes, "select a from t where b = $1"),
            ],
        );
        let analysed = shapes.len();
        let expects = expectations(&session, &known);
        let Some(Expect::Simple(statements)) = &expects[0] else {
            panic!("{:?}", expects[0]);
        };
        assert_eq!(statements.len(), 2);
        assert!(statements.iter().all(|s| s.is_known()));
        let Some(Expect::Execute(Some(executed))) = &expects[3] else {
            panic!("{:?}", expects[3]);
        };
        assert!(executed.is_known());
        assert!(matches!(&expects[2], Some(Expect::Bind(Some(s))) if Arc::ptr_eq(s, executed)));
        assert!(matches!(expects[4], Some(Expect::Sync)));
        assert_eq!(shapes.len(), analysed, "nothing was analysed again");
        assert_eq!(
            executed.shape(&shapes).fingerprint,
            shapes.analyze("select a from t where b = 7").fingerprint
        );
    }

    #[test]
    fn statements_are_analysed_when_the_answers_do_not_line_up() {
        let shapes = Shapes::new(64, 4096);
        let known = known(&shapes, &["select 1"]);
        // One answer for two statements: a record was lost.
        let session = session(
            &[enc::query("select 1; select 2")],
            vec![answered(Sent::Simple, &shapes, "select 1")],
        );
        let expects = expectations(&session, &known);
        let Some(Expect::Simple(statements)) = &expects[0] else {
            panic!();
        };
        assert!(statements.iter().all(|s| !s.is_known()));
        assert_eq!(
            statements[1].shape(&shapes).fingerprint,
            shapes.analyze("select 2").fingerprint
        );
    }

    #[test]
    fn the_one_pass_split_agrees_with_the_fingerprint_crates_splitter() {
        let texts = [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
            "select 1",
            "  select 1 ;  \n",
            "select 1; select 2",
            "select 1;;",
            ";",
            "",
            "   ",
            "select ';'",
            "select $1;",
            "select 1 -- done;",
            "select /* x; */ 1",
            "select a-b, c/d, e*f from t;",
            "create procedure p() begin atomic select 1; end;",
            "select atomic from t;",
            "select atomic from t",
            "select \"a;b\" from t",
        ];
        for text in texts {
            let expected: Vec<&str> = split_statements_with(text, ConformingStrings::On);
            match single_plain(text.as_bytes()) {
                Some(&[]) => assert!(expected.is_empty(), "{text:?}: {expected:?}"),
                Some(statement) => assert_eq!(
                    vec![std::str::from_utf8(statement).unwrap()],
                    expected,
                    "{text:?}"
                ),
                None => {}
            }
        }
        assert!(single_plain(b"SELECT abalance FROM pgbench_accounts WHERE aid = 42;").is_some());
        assert!(single_plain(b"select 1; select 2").is_none());
    }

    #[test]
    fn copy_data_flush_and_terminate_expect_no_answer() {
        let session = session(
            &[
                enc::query("copy t from stdin"),
                enc::copy_data(b"1\n"),
                enc::copy_done(),
                enc::flush(),
                enc::terminate(),
            ],
            vec![],
        );
        let expects = expectations(&session, &HashMap::new());
        assert!(matches!(&expects[0], Some(Expect::Simple(s)) if s.len() == 1));
        assert!(expects[1..].iter().all(Option::is_none));
    }
}
