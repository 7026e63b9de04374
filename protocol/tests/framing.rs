//! Streaming decoder: split points, limits, sticky errors, zero copy and the skip path.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::{all, concat, decode_chunks, not_rows};
use pgscope_protocol::encode::backend as be;
use pgscope_protocol::{Decoded, Decoder, Frame, Limits, ProtocolError};

fn backend_stream() -> Bytes {
    concat(&[
        be::row_description(&["id", "name"]),
        be::data_row(&[Some(b"1"), Some(b"alice")]),
        be::data_row(&[Some(b"2"), None]),
        be::command_complete("SELECT 2"),
        be::copy_data(b""),
        be::ready_for_query(b'I'),
    ])
}

fn whole(stream: &Bytes, wants: fn(u8) -> bool) -> Vec<Decoded> {
    let (out, err, d) = decode_chunks(std::slice::from_ref(stream), wants);
    assert_eq!(err, None);
    assert!(d.at_boundary());
    out
}

#[test]
fn whole_stream_yields_frames_and_skips() {
    let out = whole(&backend_stream(), not_rows);
    let kinds: Vec<(u8, bool)> = out
        .iter()
        .map(|m| match m {
            Decoded::Frame(f) => (f.tag, true),
            Decoded::Skipped { tag, .. } => (*tag, false),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (b'T', true),
            (b'D', false),
            (b'D', false),
            (b'C', true),
            (b'd', false),
            (b'Z', true)
        ]
    );
    assert_eq!(
        out[1],
        Decoded::Skipped {
            tag: b'D',
            len: u32::try_from(be::data_row(&[Some(b"1"), Some(b"alice")]).len() - 1).unwrap()
        }
    );
}

#[test]
fn every_two_way_split_gives_same_messages() {
    let stream = backend_stream();
    for wants in [all as fn(u8) -> bool, not_rows] {
        let expected = whole(&stream, wants);
        for i in 0..=stream.len() {
            let chunks = [stream.slice(..i), stream.slice(i..)];
            let (out, err, d) = decode_chunks(&chunks, wants);
            assert_eq!(err, None, "split at {i}");
            assert_eq!(out, expected, "split at {i}");
            assert!(d.at_boundary(), "split at {i}");
        }
    }
}

#[test]
fn every_three_way_split_gives_same_messages() {
    let stream = backend_stream();
    let expected = whole(&stream, not_rows);
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let chunks = [stream.slice(..i), stream.slice(i..j), stream.slice(j..)];
            let (out, err, _) = decode_chunks(&chunks, not_rows);
            assert_eq!(err, None);
            assert_eq!(out, expected, "split at {i}, {j}");
        }
    }
}

#[test]
fn one_byte_chunks_give_same_messages() {
    let stream = backend_stream();
    for wants in [all as fn(u8) -> bool, not_rows] {
        let chunks: Vec<Bytes> = (0..stream.len()).map(|i| stream.slice(i..i + 1)).collect();
        let (out, err, d) = decode_chunks(&chunks, wants);
        assert_eq!(err, None);
        assert_eq!(out, whole(&stream, wants));
        assert!(d.at_boundary());
    }
}

#[test]
fn incomplete_header_needs_more() {
    let mut d = Decoder::new(Limits::default(), all);
    d.push(Bytes::from_static(b"Z\0\0"));
    assert_eq!(d.next(), Ok(None));
    assert!(!d.at_boundary());
    d.push(Bytes::from_static(b"\0\x05I"));
    assert!(matches!(d.next(), Ok(Some(Decoded::Frame(f))) if f.body() == b"I"));
    assert!(d.at_boundary());
    assert_eq!(d.next(), Ok(None));
}

#[test]
fn incomplete_body_needs_more_and_is_not_at_boundary() {
    let msg = be::command_complete("SELECT 1");
    let mut d = Decoder::new(Limits::default(), all);
    d.push(msg.slice(..7));
    assert_eq!(d.next(), Ok(None));
    assert!(!d.at_boundary());
}

#[test]
fn fresh_decoder_is_at_boundary_and_empty_push_is_ignored() {
    let mut d = Decoder::new(Limits::default(), all);
    assert!(d.at_boundary());
    d.push(Bytes::new());
    assert!(d.at_boundary());
    assert_eq!(d.next(), Ok(None));
}

fn small_limits() -> Limits {
    Limits {
        max_message_len: 1_048_576,
        ..Limits::default()
    }
}

#[test]
fn oversize_is_rejected_from_the_header_alone() {
    let mut d = Decoder::new(small_limits(), all);
    d.push(Bytes::from_static(b"Q"));
    d.push(Bytes::copy_from_slice(&2_000_000u32.to_be_bytes()));
    let err = d.next().unwrap_err();
    assert_eq!(
        err,
        ProtocolError::MessageTooLong {
            tag: b'Q',
            len: 2_000_000,
            max: 1_048_576
        }
    );
    assert_eq!(
        err.to_string(),
        "message 'Q' has length 2000000, over the maximum 1048576"
    );
}

#[test]
fn oversize_skipped_type_is_rejected_too() {
    let mut d = Decoder::new(small_limits(), not_rows);
    let mut b = BytesMut::new();
    b.put_u8(b'D');
    b.put_u32(1_048_577);
    d.push(b.freeze());
    assert!(matches!(
        d.next(),
        Err(ProtocolError::MessageTooLong { tag: b'D', .. })
    ));
}

#[test]
fn limit_itself_is_accepted() {
    let mut d = Decoder::new(
        Limits {
            max_message_len: 9,
            ..Limits::default()
        },
        all,
    );
    d.push(Bytes::from_static(b"Q\0\0\0\x09abcd\0"));
    assert!(matches!(d.next(), Ok(Some(Decoded::Frame(_)))));
}

#[test]
fn length_below_four_is_bad_length() {
    let mut d = Decoder::new(Limits::default(), all);
    d.push(Bytes::from_static(b"S\0\0\0\x03"));
    assert_eq!(
        d.next(),
        Err(ProtocolError::BadLength { tag: b'S', len: 3 })
    );
}

#[test]
fn errors_are_sticky() {
    let mut d = Decoder::new(Limits::default(), all);
    d.push(Bytes::from_static(b"S\0\0\0\x00"));
    let first = d.next().unwrap_err();
    d.push(be::ready_for_query(b'I'));
    assert_eq!(d.next(), Err(first.clone()));
    assert_eq!(d.next(), Err(first));
}

#[test]
fn frames_after_an_error_in_the_same_chunk_are_not_returned() {
    let stream = concat(&[
        be::parse_complete(),
        Bytes::from_static(b"X\0\0\0\x01"),
        be::bind_complete(),
    ]);
    let (out, err, _) = decode_chunks(&[stream], all);
    assert_eq!(out.len(), 1);
    assert_eq!(err, Some(ProtocolError::BadLength { tag: b'X', len: 1 }));
}

fn inside(chunk: &Bytes, frame: &Frame) -> bool {
    let start = chunk.as_ptr() as usize;
    let p = frame.bytes.as_ptr() as usize;
    p >= start && p + frame.bytes.len() <= start + chunk.len()
}

#[test]
fn frame_inside_one_chunk_is_a_slice_of_it() {
    let chunk = backend_stream();
    let mut d = Decoder::new(Limits::default(), all);
    d.push(chunk.clone());
    let mut frames = 0;
    while let Some(m) = d.next().unwrap() {
        let Decoded::Frame(f) = m else {
            panic!("everything is wanted")
        };
        assert!(inside(&chunk, &f), "frame {} was copied", f.tag as char);
        frames += 1;
    }
    assert_eq!(frames, 6);
}

#[test]
fn frame_spanning_chunks_is_reassembled_whole() {
    let msg = be::error_response("ERROR", "42P01", "relation \"t\" does not exist");
    let (a, b) = (msg.slice(..9), msg.slice(9..));
    let mut d = Decoder::new(Limits::default(), all);
    d.push(a.clone());
    assert_eq!(d.next(), Ok(None));
    d.push(b.clone());
    let Ok(Some(Decoded::Frame(f))) = d.next() else {
        panic!("expected frame")
    };
    assert_eq!(f.bytes, msg);
    assert_eq!(f.tag, b'E');
    assert!(!inside(&a, &f) && !inside(&b, &f));
}

#[test]
fn skipped_body_is_reported_once_its_last_byte_passes() {
    let row = be::data_row(&[Some(&[7u8; 100][..])]);
    let mut d = Decoder::new(Limits::default(), not_rows);
    d.push(row.slice(..50));
    assert_eq!(d.next(), Ok(None));
    assert!(!d.at_boundary());
    d.push(row.slice(50..row.len() - 1));
    assert_eq!(d.next(), Ok(None));
    d.push(row.slice(row.len() - 1..));
    assert_eq!(
        d.next(),
        Ok(Some(Decoded::Skipped {
            tag: b'D',
            len: u32::try_from(row.len() - 1).unwrap()
        }))
    );
    assert!(d.at_boundary());
}

#[test]
fn skipped_bodies_are_never_buffered() {
    // A 64 MiB DataRow announced in its header, then sent in 1 MiB pieces.
    let body_len = 64usize << 20;
    let mut header = BytesMut::new();
    header.put_u8(b'D');
    header.put_u32(u32::try_from(body_len + 4).unwrap());
    let mut d = Decoder::new(Limits::default(), not_rows);
    d.push(header.freeze());
    assert_eq!(d.next(), Ok(None));
    let piece = Bytes::from(vec![0u8; 1 << 20]);
    for i in 0..64 {
        d.push(piece.clone());
        let got = d.next().unwrap();
        assert_eq!(d.buffered(), 0);
        assert_eq!(got.is_some(), i == 63);
    }
    assert!(d.at_boundary());
}

#[test]
fn partial_wanted_message_is_pending_until_complete() {
    let mut header = BytesMut::new();
    header.put_u8(b'Q');
    header.put_u32(0x3fff_ffff);
    header.put_slice(b"SELECT");
    let mut d = Decoder::new(Limits::default(), all);
    d.push(header.freeze());
    assert_eq!(d.next(), Ok(None));
    assert_eq!(d.buffered(), 0);
    assert!(!d.at_boundary());
}

#[test]
fn frame_accessors_tolerate_short_bytes() {
    let f = Frame {
        tag: b'Q',
        bytes: Bytes::from_static(b"Q\0"),
    };
    assert_eq!(f.body(), b"");
    assert_eq!(f.len_field(), 0);
    let f = common::raw_frame(b'Q', b"x\0");
    assert_eq!(f.len_field(), 6);
    assert_eq!(f.body(), b"x\0");
}

#[test]
fn default_limits_are_postgres_limits() {
    let l = Limits::default();
    assert_eq!(l.max_message_len, 1 << 30);
    assert_eq!(l.max_startup_len, 10_000);
}
