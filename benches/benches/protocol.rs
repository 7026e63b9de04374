//! Framing throughput of `pgscope-protocol`: how fast the decoder (plus the typed views of the
//! messages the session looks at) gets through realistic traffic pushed in 16 KiB socket reads.
//!
//! * `backend/select_1000_rows`: RowDescription, 1000 five-column DataRows, CommandComplete,
//!   ReadyForQuery. `skip_rows` is what the session does (DataRow bodies skipped, never copied);
//!   `want_all` returns and parses every DataRow too.
//! * `frontend/extended_1000`: 1000 × Parse/Bind/Execute/Sync, every message parsed.
//!
//! Each workload is measured twice: once reporting bytes/s, once messages/s.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgscope_protocol::backend::BackendMessage;
use pgscope_protocol::encode::{backend as be, frontend as fe};
use pgscope_protocol::frontend::FrontendMessage;
use pgscope_protocol::{Decoded, Decoder, Limits, Message};
use std::hint::black_box;

const CHUNK: usize = 16 * 1024;

struct Workload {
    name: &'static str,
    chunks: Vec<Bytes>,
    bytes: u64,
    messages: u64,
}

fn chunked(parts: &[Bytes]) -> (Vec<Bytes>, u64) {
    let mut all = BytesMut::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    let all = all.freeze();
    let chunks = (0..all.len())
        .step_by(CHUNK)
        .map(|at| all.slice(at..(at + CHUNK).min(all.len())))
        .collect();
    (chunks, all.len() as u64)
}

fn backend_stream() -> Workload {
    let mut parts = vec![be::row_description(&[
        "id",
        "email",
        "created_at",
        "balance",
        "active",
    ])];
    for i in 0..1000u32 {
        let id = i.to_string();
        let email = format!("user{i}@example.com");
        parts.push(be::data_row(&[
            Some(id.as_bytes()),
            Some(email.as_bytes()),
            Some(b"2024-05-17 12:34:56.789+00"),
            Some(b"1234.56"),
            if i % 7 == 0 { None } else { Some(b"t") },
        ]));
    }
    parts.push(be::command_complete("SELECT 1000"));
    parts.push(be::ready_for_query(b'I'));
    let messages = parts.len() as u64;
    let (chunks, bytes) = chunked(&parts);
    Workload {
        name: "select_1000_rows",
        chunks,
        bytes,
        messages,
    }
}

fn frontend_stream() -> Workload {
    let mut parts = Vec::new();
    for i in 0..1000u32 {
        let aid = (i * 7919 % 100_000).to_string();
        parts.push(fe::parse(
            "",
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
            &[23],
        ));
        parts.push(fe::bind("", "", &[Some(aid.as_bytes())]));
        parts.push(fe::execute("", 0));
        parts.push(fe::sync());
    }
    let messages = parts.len() as u64;
    let (chunks, bytes) = chunked(&parts);
    Workload {
        name: "extended_1000",
        chunks,
        bytes,
        messages,
    }
}

fn skip_rows(tag: u8) -> bool {
    !matches!(tag, b'D' | b'd')
}

fn want_all(_: u8) -> bool {
    true
}

/// Decodes every chunk and parses every frame with `parse`; returns a checksum.
fn run(chunks: &[Bytes], wants: Wants, parse: fn(&Decoded) -> usize) -> usize {
    let mut d = Decoder::new(Limits::default(), wants);
    let mut sum = 0;
    for c in chunks {
        d.push(c.clone());
        while let Ok(Some(m)) = d.next() {
            sum += parse(&m);
        }
    }
    assert!(d.at_boundary());
    sum
}

fn parse_backend(m: &Decoded) -> usize {
    match BackendMessage::decode(m) {
        Ok(BackendMessage::DataRow) => 2,
        Ok(BackendMessage::Unread { len, .. }) => len as usize,
        Ok(_) => 1,
        Err(_) => 0,
    }
}

fn parse_frontend(m: &Decoded) -> usize {
    match FrontendMessage::decode(m) {
        Ok(FrontendMessage::Unread { .. }) | Err(_) => 0,
        Ok(_) => 1,
    }
}

/// Which message types a decoder keeps.
type Wants = fn(u8) -> bool;

/// Decodes and parses one kind of traffic, once per named `wants` variant.
fn bench_workload(
    c: &mut Criterion,
    group: &str,
    w: &Workload,
    variants: &[(&str, Wants)],
    parse: fn(&Decoded) -> usize,
) {
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(w.bytes)),
        ("messages", Throughput::Elements(w.messages)),
    ] {
        let mut g = c.benchmark_group(format!("{group}/{}/{unit}", w.name));
        g.throughput(throughput);
        for (variant, wants) in variants {
            g.bench_function(*variant, |b| {
                b.iter(|| run(black_box(&w.chunks), *wants, parse))
            });
        }
        g.finish();
    }
}

fn framing(c: &mut Criterion) {
    let backend = backend_stream();
    bench_workload(
        c,
        "backend",
        &backend,
        &[("skip_rows", skip_rows), ("want_all", want_all)],
        parse_backend,
    );
    let frontend = frontend_stream();
    bench_workload(
        c,
        "frontend",
        &frontend,
        &[("want_all", want_all)],
        parse_frontend,
    );
}

criterion_group!(benches, framing);
criterion_main!(benches);
