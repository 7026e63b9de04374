//! `pipeline_timing = "exact"`: a `Flush` follows every `Execute` the client did not follow
//! with `Sync` or `Flush`, the client's bytes reach the server unchanged and in order around
//! it, and with `"batch"` nothing is added.

use bytes::{Bytes, BytesMut};
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::{Action, Output, Session, SessionConfig};

fn running(flush_pipelines: bool) -> Session {
    let mut s = Session::new(SessionConfig {
        flush_pipelines,
        ..SessionConfig::default()
    });
    let mut out = Output::default();
    let startup = fe::startup((3, 0), &[("user", "alice")]);
    s.on_client_startup(&mut BytesMut::from(&startup[..]), &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    out.clear();
    let now = std::time::Instant::now();
    s.on_server_data(be::auth_ok(), now, &mut out);
    s.on_server_data(be::ready_for_query(b'I'), now, &mut out);
    s
}

fn join(parts: &[Bytes]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

fn query(sql: &str) -> Vec<Bytes> {
    vec![
        fe::parse("", sql, &[]),
        fe::bind("", "", &[]),
        fe::execute("", 0),
    ]
}

#[test]
fn a_flush_follows_each_pipelined_execute_not_followed_by_sync_or_flush() {
    let mut s = running(true);
    let mut messages = query("SELECT 1");
    messages.extend(query("SELECT pg_sleep(1)"));
    messages.push(fe::flush());
    messages.extend(query("SELECT 2"));
    messages.push(fe::sync());
    let sent: Vec<u8> = join(&messages);
    // Every split of the client's bytes into two reads gives the same upstream stream.
    let flush = fe::flush();
    let mut expected = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        expected.extend_from_slice(message);
        let next_is_sync_or_flush = messages
            .get(i + 1)
            .is_some_and(|next| next[0] == b'S' || next[0] == b'H');
        if message[0] == b'E' && !next_is_sync_or_flush {
            expected.extend_from_slice(&flush);
        }
    }
    assert_eq!(
        expected.len(),
        sent.len() + flush.len(),
        "one Flush is added"
    );
    for split in 1..sent.len() {
        let mut s2 = running(true);
        let mut out = Output::default();
        let now = std::time::Instant::now();
        s2.on_client_data(Bytes::copy_from_slice(&sent[..split]), now, &mut out);
        s2.on_client_data(Bytes::copy_from_slice(&sent[split..]), now, &mut out);
        let upstream = frames(&join(&out.to_server));
        // The client's messages in order once Flushes are set aside; the added ones come
        // only right after an Execute.
        let client: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
        let not_flush = |m: &&Vec<u8>| m[0] != b'H';
        assert!(
            upstream
                .iter()
                .filter(not_flush)
                .eq(client.iter().filter(not_flush)),
            "split {split}: the client's messages changed"
        );
        let flushes = |list: &[Vec<u8>]| list.iter().filter(|m| m[0] == b'H').count();
        let added = flushes(&upstream) - flushes(&client);
        // Only the first Execute needs one; a read ending right after another Execute (before
        // the client's own Flush or Sync arrived) may add one more.
        assert!(
            (1..=2).contains(&added),
            "split {split}: {added} Flushes added"
        );
        for (i, message) in upstream.iter().enumerate().skip(1) {
            if message[0] == b'H' {
                assert!(
                    matches!(upstream[i - 1][0], b'E' | b'H'),
                    "split {split}: a Flush after {:?}",
                    char::from(upstream[i - 1][0])
                );
            }
        }
        // Every Execute the client did not follow with Sync or Flush is followed by a Flush.
        for (i, message) in upstream.iter().enumerate() {
            if message[0] == b'E' {
                let next = upstream.get(i + 1).map(|m| m[0]);
                assert!(matches!(next, Some(b'H' | b'S')), "split {split}: {next:?}");
            }
        }
    }
    let mut out = Output::default();
    s.on_client_data(
        Bytes::from(sent.clone()),
        std::time::Instant::now(),
        &mut out,
    );
    assert_eq!(join(&out.to_server), expected);
}

#[test]
fn an_execute_followed_by_sync_is_forwarded_as_one_chunk() {
    let mut s = running(true);
    let mut messages = query("SELECT 1");
    messages.push(fe::sync());
    let chunk = Bytes::from(join(&messages));
    let mut out = Output::default();
    s.on_client_data(chunk.clone(), std::time::Instant::now(), &mut out);
    assert_eq!(out.to_server.to_vec(), vec![chunk]);
}

#[test]
fn with_batch_timing_nothing_is_added() {
    let mut s = running(false);
    let mut messages = query("SELECT 1");
    messages.extend(query("SELECT 2"));
    messages.push(fe::sync());
    let chunk = Bytes::from(join(&messages));
    let mut out = Output::default();
    s.on_client_data(chunk.clone(), std::time::Instant::now(), &mut out);
    assert_eq!(out.to_server.to_vec(), vec![chunk]);
}

/// Splits a stream of whole messages into messages.
fn frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let [_, a, b, c, d, ..] = *bytes {
        let len = u32::from_be_bytes([a, b, c, d]) as usize + 1;
        out.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    out
}

#[test]
fn a_pipelined_completion_read_together_with_its_predecessors_is_batched_not_zero() {
    let mut s = running(true);
    let mut out = Output::default();
    let t0 = std::time::Instant::now();
    let mut messages = query("UPDATE t SET v = 1");
    messages.extend(query("UPDATE t SET v = 2"));
    messages.extend(query("UPDATE t SET v = 3"));
    messages.push(fe::sync());
    s.on_client_data(Bytes::from(join(&messages)), t0, &mut out);
    out.clear();
    let answer = |tag: &str| {
        join(&[
            be::parse_complete(),
            be::bind_complete(),
            be::command_complete(tag),
        ])
    };
    // The first completion alone; the second and third arrive in one read.
    let t1 = t0 + std::time::Duration::from_millis(2);
    s.on_server_data(Bytes::from(answer("UPDATE 1")), t1, &mut out);
    let t2 = t1 + std::time::Duration::from_millis(3);
    let mut both = answer("UPDATE 1");
    both.extend(answer("UPDATE 1"));
    both.extend_from_slice(&be::ready_for_query(b'I'));
    s.on_server_data(Bytes::from(both), t2, &mut out);
    let finished: Vec<(bool, std::time::Duration)> = out
        .events
        .iter()
        .filter_map(|e| match e {
            crate::observer::Event::QueryFinished(q) => Some((q.batched, q.latency())),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 3, "{:?}", out.events);
    // The first two were observed on their own (the second from the first's completion to its
    // own); the third's start and end are the same read: counted, not timed.
    assert!(!finished[0].0 && !finished[1].0, "{finished:?}");
    assert!(finished[2].0, "{finished:?}");
}

/// `(batched, failed)` of each finished query in `out`.
fn batched_and_failed(out: &Output) -> Vec<(bool, bool)> {
    out.events
        .iter()
        .filter_map(|e| match e {
            crate::observer::Event::QueryFinished(q) => Some((
                q.batched,
                matches!(q.outcome, crate::observer::Outcome::Error { .. }),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pipelined_error_read_together_with_its_predecessors_completion_is_batched_not_zero() {
    for together in [true, false] {
        let mut s = running(true);
        let mut out = Output::default();
        let t0 = std::time::Instant::now();
        let mut messages = query("UPDATE t SET v = 1");
        messages.extend(query("UPDATE t SET v = 1 / 0"));
        messages.push(fe::sync());
        s.on_client_data(Bytes::from(join(&messages)), t0, &mut out);
        out.clear();
        let first = join(&[
            be::parse_complete(),
            be::bind_complete(),
            be::command_complete("UPDATE 1"),
        ]);
        let failure = join(&[
            be::parse_complete(),
            be::bind_complete(),
            be::error_response("ERROR", "22012", "division by zero"),
            be::ready_for_query(b'I'),
        ]);
        let t1 = t0 + std::time::Duration::from_millis(2);
        if together {
            // The failure's start (the first's completion) and its end are the same read.
            s.on_server_data(Bytes::from([first, failure].concat()), t1, &mut out);
        } else {
            s.on_server_data(Bytes::from(first), t1, &mut out);
            let t2 = t1 + std::time::Duration::from_millis(3);
            s.on_server_data(Bytes::from(failure), t2, &mut out);
        }
        assert_eq!(
            batched_and_failed(&out),
            [(false, false), (together, true)],
            "together: {together}"
        );
    }
}
