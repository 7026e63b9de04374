//! The capture observer's queue bounds, without a writer thread: what is refused is refused
//! before it is copied, and counted.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::observer::{ClientMessage, Event, Observer};

/// A capture switch with a running capture whose queue nobody drains.
fn running() -> (Arc<Capture>, Receiver<Item>) {
    let capture = Capture::new(std::env::temp_dir());
    let (sender, queue) = sync_channel(MAX_QUEUED);
    let options = CaptureOptions {
        duration: Duration::from_secs(60),
        max_bytes: 1 << 30,
        rotate_bytes: None,
        path: std::env::temp_dir().join("never-written.pgcap"),
        redact: false,
        filters: Filters::default(),
    };
    let running = Arc::new(Running::new(1, options, 0, 1, sender));
    *capture.current.write().unwrap() = Some(running);
    capture.active.store(true, Ordering::Release);
    (capture, queue)
}

fn message(body: Bytes) -> Event {
    Event::ClientMessage(ClientMessage {
        session: 1,
        tag: b'B',
        body: Some(body),
        at: Instant::now(),
        strings: pgscope_fingerprint::ConformingStrings::On,
    })
}

#[test]
fn a_message_larger_than_the_queue_budget_is_dropped_before_it_is_copied_and_counted() {
    let (capture, queue) = running();
    let small = Bytes::from_static(b"\0\0\0\0\0\0\0");
    capture.observe(&message(small.clone()));
    assert_eq!(queue.try_recv().map(|i| i.weight()).ok(), Some(64 + 7));
    // Over the whole budget: refused by the weight check, before any copy is made.
    let huge = Bytes::from(vec![7u8; MAX_QUEUED_BYTES + 1]);
    capture.observe(&message(huge));
    assert!(queue.try_recv().is_err());
    assert_eq!(capture.dropped_total.get(), 1);
    let running = capture.running().unwrap();
    assert_eq!(running.dropped.load(Ordering::Relaxed), 1);
    assert_eq!(running.status("running")["incomplete"], true);
    // The refused message took no room: the queue still takes the next one.
    capture.observe(&message(small));
    assert!(queue.try_recv().is_ok());
}

#[test]
fn the_queue_bounds_items_and_bytes_and_gives_back_what_the_writer_took() {
    let fill = Fill::default();
    assert!(fill.reserve(MAX_QUEUED_BYTES / 2));
    assert!(
        !fill.reserve(MAX_QUEUED_BYTES / 2 + 1),
        "over the byte bound"
    );
    fill.release(1, (MAX_QUEUED_BYTES / 2) as u64);
    for _ in 0..MAX_QUEUED {
        assert!(fill.reserve(64));
    }
    assert!(!fill.reserve(64), "over the item bound");
    fill.release(1, 64);
    assert!(fill.reserve(64));
    assert!(!fill.reserve(usize::MAX), "a weight beyond every bound");
}

fn converter(redact_all: bool) -> (item::Converter, pgscope_capture::redact::Redactor) {
    let redactor = pgscope_capture::redact::Redactor::new().unwrap();
    (
        item::Converter::new(Instant::now(), redactor.clone(), redact_all),
        redactor,
    )
}

fn frontend(converter: &mut item::Converter, tag: u8, wire: &Bytes) -> Bytes {
    frontend_under(
        converter,
        tag,
        wire,
        pgscope_fingerprint::ConformingStrings::On,
    )
}

fn frontend_under(
    converter: &mut item::Converter,
    tag: u8,
    wire: &Bytes,
    strings: pgscope_fingerprint::ConformingStrings,
) -> Bytes {
    let item = Item::Message {
        session: 1,
        tag,
        body: Some(wire.slice(5..)),
        at: Instant::now(),
        strings,
    };
    match converter.record(item) {
        Some(pgscope_capture::Record::Frontend(m)) => m.body,
        other => panic!("{other:?}"),
    }
}

fn has(body: &[u8], needle: &str) -> bool {
    body.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn an_unredacted_capture_never_writes_a_password() {
    use pgscope_protocol::encode::frontend as fe;
    let (mut c, _) = converter(false);
    let plain = fe::query("SELECT 'kept-literal'");
    assert_eq!(frontend(&mut c, b'Q', &plain), plain.slice(5..));
    for wire in [
        fe::query("ALTER ROLE app PASSWORD 'pw-secret-1'"),
        fe::query("create user bob with encrypted password 'pw-secret-2' login"),
        fe::query("CREATE SUBSCRIPTION s CONNECTION 'host=a Password=pw-secret-3' PUBLICATION p"),
    ] {
        let body = frontend(&mut c, b'Q', &wire);
        assert!(!has(&body, "pw-secret"), "{body:?}");
        assert_eq!(body.len(), wire.len() - 5);
    }
    // A prepared statement mentioning a password: its Parse and every Bind of it.
    let parse = fe::parse(
        "s1",
        "SELECT dblink_connect('password=pw-secret-4 ' || $1)",
        &[],
    );
    assert!(!has(&frontend(&mut c, b'P', &parse), "pw-secret"));
    let bind = fe::bind("", "s1", &[Some(b"pw-secret-5")]);
    assert!(!has(&frontend(&mut c, b'B', &bind), "pw-secret"));
    // A bound value naming a password, whatever it binds.
    let bind = fe::bind("", "other", &[Some(b"host=a password=pw-secret-6")]);
    assert!(!has(&frontend(&mut c, b'B', &bind), "pw-secret"));
    // Another statement under the same name after a Close is captured as it is.
    let parse = fe::parse("s1", "SELECT $1", &[]);
    frontend(&mut c, b'P', &parse);
    let bind = fe::bind("", "s1", &[Some(b"kept-value")]);
    assert!(has(&frontend(&mut c, b'B', &bind), "kept-value"));
}

#[test]
fn redaction_lexes_each_message_under_the_strings_setting_it_was_sent_under() {
    use pgscope_fingerprint::ConformingStrings;
    use pgscope_protocol::encode::frontend as fe;
    let (mut c, redactor) = converter(true);
    let wire = fe::query(r"SELECT 'it\'s secret-7' AS a");
    let off = frontend_under(&mut c, b'Q', &wire, ConformingStrings::Off);
    assert_eq!(
        off,
        redactor.message(b'Q', &wire.slice(5..), ConformingStrings::Off)
    );
    // Off: one literal, redacted; the rest of the statement kept.
    assert!(!has(&off, "secret"));
    assert!(has(&off, " AS a"), "{off:?}");
    // On: the first quote ends at the backslash's quote, and what follows is redacted whole.
    let on = frontend_under(&mut c, b'Q', &wire, ConformingStrings::On);
    assert!(!has(&on, "secret"));
    assert!(!has(&on, " AS a"), "{on:?}");
}
