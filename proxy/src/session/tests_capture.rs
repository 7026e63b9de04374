//! Capture hooks of the session: nothing extra for a session that is not captured; for one that
//! is, its identity once and then every client message, in order, with its body.

use bytes::Bytes;
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::tests::Harness;
use super::Output;
use crate::observer::Event;

fn messages(h: &Harness) -> Vec<(u8, Option<Bytes>)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::ClientMessage(m) => Some((m.tag, m.body.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_session_that_is_not_captured_emits_no_capture_events() {
    let mut h = Harness::ready();
    let mut out = Output::default();
    h.session.on_ready_for_capture(None, h.now, h.now, &mut out);
    assert!(out.events.is_empty());
    h.client(&[fe::query("SELECT 1")]);
    h.server(&[be::command_complete("SELECT 1"), be::ready_for_query(b'I')]);
    h.session.end_capture(h.now, &mut out);
    assert!(out.events.is_empty());
    assert!(messages(&h).is_empty());
    assert!(!h.events.is_empty());
    assert!(h
        .events
        .iter()
        .all(|e| matches!(e, Event::QueryFinished(_))));
}

#[test]
fn a_captured_session_reports_its_identity_and_every_message_with_its_body() {
    let mut h = Harness::ready();
    let connected = h.now;
    h.advance(5);
    let mut out = Output::default();
    h.session
        .on_ready_for_capture(Some(7), connected, h.now, &mut out);
    let Some(Event::SessionCaptured(started)) = out.events.first() else {
        panic!("{:?}", out.events);
    };
    assert_eq!(started.connection.capture, Some(7));
    assert_eq!(&*started.connection.user, "alice");
    assert_eq!(started.connected, connected);
    assert_eq!(
        started.server_parameters,
        vec![Bytes::from_static(b"application_name\0api\0")]
    );
    assert_eq!(
        started.backend_key,
        Some((4242, Bytes::from_static(&[1, 2, 3, 4])))
    );
    assert!(!started.startup.is_empty());

    let sent = [
        fe::query("SELECT 'a'"),
        fe::parse("s1", "SELECT $1", &[]),
        fe::bind("", "s1", &[Some(b"42"), None]),
        fe::execute("", 0),
        fe::sync(),
    ];
    let chunk = h.client(&sent);
    // Forwarded unchanged (the Execute is followed by Sync: no Flush of pgscope's).
    assert_eq!(h.out.to_server.concat(), chunk.to_vec());
    let seen = messages(&h);
    let expected: Vec<(u8, Option<Bytes>)> =
        sent.iter().map(|m| (m[0], Some(m.slice(5..)))).collect();
    assert_eq!(seen, expected);
    h.server(&[
        be::row_description(&["?column?"]),
        be::data_row(&[Some(b"a")]),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
        be::parse_complete(),
        be::bind_complete(),
        be::data_row(&[Some(b"42")]),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    let finished: Vec<_> = h.finished_events().collect();
    assert_eq!(finished.len(), 2);
    assert!(finished.iter().all(|q| q.connection.capture == Some(7)));
    let mut out = Output::default();
    h.session.end_capture(h.now, &mut out);
    assert!(matches!(
        out.events.as_slice(),
        [Event::SessionEnded { session: 7, .. }]
    ));
}

#[test]
fn captured_messages_carry_the_standard_conforming_strings_the_server_reads_them_under() {
    use pgscope_fingerprint::ConformingStrings;
    let mut h = Harness::ready();
    let mut out = Output::default();
    h.session
        .on_ready_for_capture(Some(3), h.now, h.now, &mut out);
    let strings = |h: &Harness| -> Vec<ConformingStrings> {
        h.events
            .iter()
            .filter_map(|e| match e {
                Event::ClientMessage(m) => Some(m.strings),
                _ => None,
            })
            .collect()
    };
    h.client(&[fe::query("SET standard_conforming_strings = off")]);
    // Pipelined behind the change: not known yet.
    h.client(&[fe::query(r"SELECT 'a\'b'")]);
    h.server(&[
        be::command_complete("SET"),
        be::parameter_status("standard_conforming_strings", "off"),
        be::ready_for_query(b'I'),
        be::command_complete("SELECT 1"),
        be::ready_for_query(b'I'),
    ]);
    h.client(&[fe::query(r"SELECT 'c\'d'")]);
    assert_eq!(
        strings(&h),
        [
            ConformingStrings::On,
            ConformingStrings::Unknown,
            ConformingStrings::Off
        ]
    );
}
