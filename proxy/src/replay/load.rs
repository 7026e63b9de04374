//! Reading a capture file (with its rotated parts) into the replay's [`Capture`].
//!
//! Records map one to one: `SessionStart` opens a [`CapturedSession`] (a `continued` repeat in
//! a later part is the same session), `Frontend` and `Cancel` become its [`Message`]s, and each
//! `Outcome` a [`Baseline`] labelled with its session's database, user and application. The
//! baseline carries fingerprints only; the texts the report shows for them come from the
//! statements the capture holds (each `Query`'s statements and each `Parse`), analysed by the
//! process's [`Shapes`] under the session's `standard_conforming_strings`.
//!
//! A file cut short (a crash) is read up to its last complete block, and a capture whose
//! writer fell behind has lost records: both are replayed as far as they go, with a warning
//! in the report. A corrupt, foreign or newer-version file is an error.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pgscope_capture::{self as cap, Reader, Record};
use pgscope_exporters::{Sample, SampleOutcome};
use pgscope_fingerprint::{split_statements_with, ConformingStrings};
use pgscope_protocol::frontend::FrontendMessage;

use super::model::{Answered, Baseline, Capture, CapturedSession, Message, Payload, Sent};
use crate::shape::{Shape, Shapes};

/// A loaded capture and what the reader warned about.
#[derive(Debug)]
pub struct Loaded {
    /// The capture.
    pub capture: Capture,
    /// Truncation, dropped records, records of unknown kinds.
    pub warnings: Vec<String>,
}

/// Why a capture could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the capture {path}")]
pub struct LoadError {
    /// The file.
    pub path: String,
    /// What was wrong.
    #[source]
    pub source: cap::Error,
}

/// Reads the capture at `path` and its rotated parts.
pub fn load(path: &Path, shapes: &Shapes) -> Result<Loaded, LoadError> {
    let mut builder = Builder::default();
    for part in cap::parts(path) {
        let fail = |source| LoadError {
            path: part.display().to_string(),
            source,
        };
        let mut reader = Reader::open(&part).map_err(fail)?;
        let started_ms = u64::try_from(reader.header().started_at_micros / 1000).unwrap_or(0);
        loop {
            match reader.next_record() {
                Ok(Some(record)) => builder.add(record, started_ms),
                Ok(None) => break,
                Err(error @ cap::Error::Truncated { .. }) => {
                    builder.warnings.push(format!(
                        "{}: {error}; replaying what was read",
                        part.display()
                    ));
                    break;
                }
                Err(error) => return Err(fail(error)),
            }
        }
        if reader.unknown_skipped() > 0 {
            builder.warnings.push(format!(
                "{}: {} records of kinds this pgscope does not know were skipped",
                part.display(),
                reader.unknown_skipped()
            ));
        }
    }
    Ok(builder.finish(shapes))
}

/// A session being read.
struct Open {
    session: CapturedSession,
}

#[derive(Default)]
struct Builder {
    sessions: Vec<Open>,
    /// Session ids to their index (foldhash: one lookup per record).
    by_id: HashMap<u64, usize, foldhash::fast::RandomState>,
    /// Outcomes, with the index of their session.
    outcomes: Vec<(usize, cap::StatementOutcome, u64)>,
    warnings: Vec<String>,
    dropped: u64,
    last_at: u64,
    orphans: u64,
}

fn offset(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

impl Builder {
    fn add(&mut self, record: Record, started_ms: u64) {
        self.last_at = self.last_at.max(record.at());
        match record {
            Record::SessionStart(start) => {
                if self.by_id.contains_key(&start.session) {
                    return;
                }
                let strings = start
                    .server_parameters
                    .iter()
                    .find(|(name, _)| name == "standard_conforming_strings")
                    .map_or(ConformingStrings::On, |(_, value)| {
                        ConformingStrings::from_parameter(value.as_bytes())
                    });
                self.by_id.insert(start.session, self.sessions.len());
                self.sessions.push(Open {
                    session: CapturedSession {
                        id: start.session,
                        connected_at: offset(start.at),
                        database: start.database,
                        user: start.user,
                        application: start.application_name,
                        messages: Vec::new(),
                        strings,
                        answered: Vec::new(),
                    },
                });
            }
            Record::Frontend(message) => match self.by_id.get(&message.session) {
                Some(&i) => self.sessions[i].session.messages.push(Message::frontend(
                    offset(message.at),
                    message.tag,
                    message.body,
                )),
                None => self.orphans += 1,
            },
            Record::Cancel(cancel) => {
                if let Some(&i) = cancel.session.and_then(|id| self.by_id.get(&id)) {
                    self.sessions[i].session.messages.push(Message {
                        at: offset(cancel.at),
                        payload: Payload::Cancel,
                    });
                }
            }
            Record::Outcome(outcome) => match self.by_id.get(&outcome.session) {
                Some(&i) => {
                    self.sessions[i].session.answered.push(Answered {
                        sent: match outcome.protocol {
                            cap::Protocol::Simple => Sent::Simple,
                            cap::Protocol::Extended => Sent::Extended,
                            cap::Protocol::Prepare => Sent::Prepare,
                        },
                        fingerprint: outcome.fingerprint,
                    });
                    self.outcomes.push((i, outcome, started_ms));
                }
                None => self.orphans += 1,
            },
            Record::Dropped(dropped) => self.dropped += dropped.records,
            Record::SessionEnd(_) | Record::Trailer(_) => {}
        }
    }

    fn finish(mut self, shapes: &Shapes) -> Loaded {
        let wanted = self
            .outcomes
            .iter()
            .map(|(_, o, _)| o.fingerprint)
            .collect();
        let known = texts(&self.sessions, shapes, wanted);
        // Each session's labels, shared by its statements.
        let labels: Vec<[Arc<str>; 3]> = self
            .sessions
            .iter()
            .map(|open| {
                let s = &open.session;
                [
                    s.database.as_str().into(),
                    s.user.as_str().into(),
                    s.application.as_str().into(),
                ]
            })
            .collect();
        let baseline = self
            .outcomes
            .iter()
            .map(|(i, outcome, started_ms)| {
                let [database, user, application] = &labels[*i];
                Baseline {
                    fingerprint: outcome.fingerprint,
                    info: known
                        .get(&outcome.fingerprint)
                        .map(|shape| shape.info.clone())
                        .unwrap_or_default(),
                    database: Arc::clone(database),
                    user: Arc::clone(user),
                    application: Arc::clone(application),
                    sample: Sample {
                        at_ms: started_ms + outcome.at / 1000,
                        latency_us: outcome.latency_micros,
                        rows: outcome.rows,
                        outcome: match outcome.status {
                            cap::Status::Ok => SampleOutcome::Ok,
                            cap::Status::Error(code) => SampleOutcome::Error(code),
                            cap::Status::Skipped => SampleOutcome::Skipped,
                        },
                        batched: outcome.batched,
                        // The capture format does not record a batch's total.
                        batch_us: None,
                    },
                }
            })
            .collect();
        if self.dropped > 0 {
            self.warnings.push(format!(
                "the capture is incomplete: {} records were dropped while capturing (the writer \
                 fell behind), so some sessions are not replayed as they ran",
                self.dropped
            ));
        }
        if self.orphans > 0 {
            self.warnings.push(format!(
                "{} records belong to sessions whose start is not in the capture; they are \
                 not replayed",
                self.orphans
            ));
        }
        Loaded {
            capture: Capture {
                sessions: self.sessions.into_iter().map(|open| open.session).collect(),
                baseline,
                duration: offset(self.last_at),
                known,
            },
            warnings: self.warnings,
        }
    }
}

/// The shapes of the `wanted` fingerprints (the baseline's) — the report's texts, and what
/// replayed statements are recorded under — from the statements the capture holds: analysed in
/// order until every wanted fingerprint has its shape, so a capture of a few shapes repeated
/// many times costs a few analyses, not one per statement.
fn texts(sessions: &[Open], shapes: &Shapes, mut wanted: HashSet<u64>) -> HashMap<u64, Arc<Shape>> {
    let mut known = HashMap::new();
    if wanted.is_empty() {
        return known;
    }
    let mut add = |sql: &str, strings: ConformingStrings, known: &mut HashMap<u64, Arc<Shape>>| {
        let shape = shapes.analyze_with(sql, strings);
        if wanted.remove(&shape.fingerprint.0) {
            known.insert(shape.fingerprint.0, shape);
        }
        wanted.is_empty()
    };
    for open in sessions {
        let strings = open.session.strings;
        for message in &open.session.messages {
            let Payload::Frontend { tag, body } = &message.payload else {
                continue;
            };
            if !matches!(tag, b'Q' | b'P') {
                continue;
            }
            match FrontendMessage::parse_body(*tag, body) {
                Ok(FrontendMessage::Query { sql }) => {
                    let sql = String::from_utf8_lossy(sql);
                    for statement in split_statements_with(&sql, strings) {
                        if add(statement, strings, &mut known) {
                            return known;
                        }
                    }
                }
                Ok(FrontendMessage::Parse { sql, .. })
                    if add(&String::from_utf8_lossy(sql), strings, &mut known) =>
                {
                    return known;
                }
                _ => {}
            }
        }
    }
    known
}
