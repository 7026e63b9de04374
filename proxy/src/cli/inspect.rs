//! `pgscope capture inspect FILE`: what a capture holds — sessions, messages, statements,
//! fingerprints by calls, the rate over time, what was dropped, and whether the file is complete
//! (a truncated file is read up to its last complete block and says so; a corrupt or foreign
//! file is an error).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use pgscope_capture::{self as cap, Reader, Record};
use pgscope_fingerprint::{fingerprint_with, split_statements_with, ConformingStrings};
use serde_json::{json, Value};

/// Flags of `pgscope capture inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The capture file (its rotated parts, FILE's stem.1.ext …, are read too)
    pub file: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: InspectFormat,
    /// Fingerprints listed
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Output formats of `pgscope capture inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    /// Plain text
    Text,
    /// One JSON document
    Json,
}

#[derive(Default)]
struct Shape {
    calls: u64,
    errors: u64,
    batched: u64,
    total_micros: u64,
    rows: u64,
}

/// Tallies of the records read.
#[derive(Default)]
struct Tally {
    sessions: u64,
    continued: u64,
    ended: u64,
    databases: BTreeMap<String, u64>,
    users: BTreeMap<String, u64>,
    applications: BTreeMap<String, u64>,
    messages: BTreeMap<char, u64>,
    message_bytes: u64,
    statements: u64,
    errors: u64,
    skipped: u64,
    cancels: u64,
    dropped: u64,
    shapes: HashMap<u64, Shape>,
    texts: HashMap<u64, String>,
    strings: HashMap<u64, ConformingStrings>,
    per_second: BTreeMap<u64, u64>,
    last_at: u64,
}

impl Tally {
    fn add(&mut self, record: &Record) {
        self.last_at = self.last_at.max(record.at());
        match record {
            Record::SessionStart(s) => {
                if s.continued {
                    self.continued += 1;
                    return;
                }
                self.sessions += 1;
                *self.databases.entry(s.database.clone()).or_default() += 1;
                *self.users.entry(s.user.clone()).or_default() += 1;
                *self
                    .applications
                    .entry(s.application_name.clone())
                    .or_default() += 1;
                let strings = s
                    .server_parameters
                    .iter()
                    .find(|(n, _)| n == "standard_conforming_strings")
                    .map_or(ConformingStrings::On, |(_, v)| {
                        ConformingStrings::from_parameter(v.as_bytes())
                    });
                self.strings.insert(s.session, strings);
            }
            Record::Frontend(m) => {
                *self.messages.entry(char::from(m.tag)).or_default() += 1;
                self.message_bytes += m.body.len() as u64;
                let strings = self.strings.get(&m.session).copied().unwrap_or_default();
                let sql = match m.tag {
                    b'Q' => cstr(&m.body, 0),
                    b'P' => m
                        .body
                        .iter()
                        .position(|&b| b == 0)
                        .and_then(|end| cstr(&m.body, end + 1)),
                    _ => None,
                };
                if let Some(sql) = sql {
                    for statement in split_statements_with(&sql, strings) {
                        let (fp, text) = fingerprint_with(statement, strings);
                        self.texts.entry(fp.0).or_insert(text);
                    }
                }
            }
            Record::Outcome(o) => {
                self.statements += 1;
                *self.per_second.entry(o.at / 1_000_000).or_default() += 1;
                let shape = self.shapes.entry(o.fingerprint).or_default();
                shape.calls += 1;
                shape.rows += o.rows.unwrap_or(0);
                match o.status {
                    cap::Status::Ok => {}
                    cap::Status::Error(_) => {
                        self.errors += 1;
                        shape.errors += 1;
                    }
                    cap::Status::Skipped => self.skipped += 1,
                }
                if o.batched {
                    shape.batched += 1;
                } else {
                    shape.total_micros += o.latency_micros;
                }
            }
            Record::Cancel(_) => self.cancels += 1,
            Record::SessionEnd(_) => self.ended += 1,
            Record::Dropped(d) => self.dropped += d.records,
            Record::Trailer(_) => {}
        }
    }
}

fn cstr(body: &[u8], at: usize) -> Option<String> {
    let rest = body.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Runs `pgscope capture inspect`.
pub fn run(args: &InspectArgs, mut out: impl Write) -> anyhow::Result<()> {
    let mut tally = Tally::default();
    let mut files = Vec::new();
    let mut header = None;
    for part in cap::parts(&args.file) {
        let mut reader =
            Reader::open(&part).with_context(|| format!("cannot read {}", part.display()))?;
        header.get_or_insert_with(|| reader.header().clone());
        let mut problem = None;
        loop {
            match reader.next_record() {
                Ok(Some(record)) => tally.add(&record),
                Ok(None) => break,
                Err(e) if e.is_truncation() => {
                    problem = Some(e.to_string());
                    break;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", part.display())),
            }
        }
        let trailer = reader.trailer().cloned();
        files.push(json!({
            "path": part,
            "part": reader.header().part,
            "records": reader.records_read(),
            "bytes": reader.offset(),
            "unknown_records_skipped": reader.unknown_skipped(),
            "truncated": problem,
            "closed": trailer.is_some(),
            "reason": trailer.as_ref().map(|t| crate::capture::reason_name(t.reason)),
            "over_limit": trailer.as_ref().map_or(0, |t| t.over_limit),
        }));
    }
    let header = header.context("no capture file read")?;
    let mut shapes: Vec<(&u64, &Shape)> = tally.shapes.iter().collect();
    shapes.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
    let fingerprints: Vec<Value> = shapes
        .iter()
        .take(args.limit)
        .map(|(fp, s)| {
            let timed = s.calls - s.batched;
            json!({
                "fingerprint": format!("{fp:016x}"),
                "calls": s.calls,
                "errors": s.errors,
                "rows": s.rows,
                "mean_ms": if timed > 0 { s.total_micros as f64 / timed as f64 / 1000.0 } else { 0.0 },
                "query": tally.texts.get(fp).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let seconds = tally.last_at as f64 / 1e6;
    let truncated = files.iter().any(|f| !f["truncated"].is_null());
    let closed = files.last().is_some_and(|f| f["closed"] == json!(true));
    let report = json!({
        "file": args.file,
        "parts": files,
        "format_version": cap::FORMAT_VERSION,
        "pgscope_version": header.pgscope_version,
        "started_at": pgscope_exporters::time::rfc3339(u64::try_from(header.started_at_micros / 1000).unwrap_or(0)),
        "redacted": header.redacted,
        "seconds": seconds,
        "truncated": truncated,
        "closed": closed,
        "sessions": tally.sessions,
        "sessions_ended": tally.ended,
        "databases": tally.databases,
        "users": tally.users,
        "applications": tally.applications,
        "messages": tally.messages.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "message_bytes": tally.message_bytes,
        "statements": tally.statements,
        "errors": tally.errors,
        "skipped": tally.skipped,
        "cancels": tally.cancels,
        "dropped": tally.dropped,
        "incomplete": tally.dropped > 0,
        "distinct_fingerprints": tally.shapes.len(),
        "fingerprints": fingerprints,
        "rate_per_second": tally.per_second,
    });
    match args.format {
        InspectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        InspectFormat::Text => write_text(&report, &tally, &mut out)?,
    }
    Ok(())
}

fn write_text(r: &Value, tally: &Tally, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "capture {} (format {}, pgscope {}, started {}, {:.1} s{})",
        r["file"].as_str().unwrap_or(""),
        r["format_version"],
        r["pgscope_version"].as_str().unwrap_or(""),
        r["started_at"].as_str().unwrap_or(""),
        r["seconds"].as_f64().unwrap_or(0.0),
        if r["redacted"] == json!(true) {
            ", redacted"
        } else {
            ""
        }
    )?;
    for part in r["parts"].as_array().into_iter().flatten() {
        let state = match (&part["truncated"], part["reason"].as_str()) {
            (Value::String(message), _) => format!("TRUNCATED: {message}"),
            (_, Some(reason)) => format!("closed ({reason})"),
            _ => "not closed (the writer stopped without a trailer)".to_owned(),
        };
        writeln!(
            out,
            "  part {}: {} records, {} bytes, {state}",
            part["part"], part["records"], part["bytes"]
        )?;
        if part["over_limit"].as_u64().unwrap_or(0) > 0 {
            writeln!(
                out,
                "    {} records not written: max_bytes reached",
                part["over_limit"]
            )?;
        }
    }
    writeln!(
        out,
        "sessions: {} ({} ended, {} continued from an earlier part)",
        tally.sessions, tally.ended, tally.continued
    )?;
    let list = |m: &BTreeMap<String, u64>| -> String {
        m.iter()
            .map(|(k, v)| format!("{k:?} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  databases: {}", list(&tally.databases))?;
    writeln!(out, "  users: {}", list(&tally.users))?;
    writeln!(out, "  applications: {}", list(&tally.applications))?;
    let messages: Vec<String> = tally
        .messages
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "messages: {} ({} bytes): {}",
        tally.messages.values().sum::<u64>(),
        tally.message_bytes,
        messages.join(", ")
    )?;
    writeln!(
        out,
        "statements: {} ({} errors, {} skipped), {} fingerprints, {} cancel requests",
        tally.statements,
        tally.errors,
        tally.skipped,
        tally.shapes.len(),
        tally.cancels
    )?;
    if tally.dropped > 0 {
        writeln!(
            out,
            "dropped: {} records (the writer fell behind): INCOMPLETE capture",
            tally.dropped
        )?;
    } else {
        writeln!(out, "dropped: none")?;
    }
    writeln!(out, "top fingerprints by calls:")?;
    writeln!(
        out,
        "  {:<16} {:>9} {:>7} {:>10}  query",
        "fingerprint", "calls", "errors", "mean ms"
    )?;
    for f in r["fingerprints"].as_array().into_iter().flatten() {
        let query = f["query"].as_str().unwrap_or("");
        let query: String = query.chars().take(100).collect();
        writeln!(
            out,
            "  {:<16} {:>9} {:>7} {:>10.3}  {query}",
            f["fingerprint"].as_str().unwrap_or(""),
            f["calls"].as_u64().unwrap_or(0),
            f["errors"].as_u64().unwrap_or(0),
            f["mean_ms"].as_f64().unwrap_or(0.0)
        )?;
    }
    writeln!(out, "statements per second:")?;
    let max = tally.per_second.values().copied().max().unwrap_or(0).max(1);
    for (second, n) in &tally.per_second {
        let bar = "#".repeat(usize::try_from(n * 40 / max).unwrap_or(40));
        writeln!(out, "  {second:>6}s {n:>8} {bar}")?;
    }
    Ok(())
}
