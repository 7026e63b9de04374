//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bytes::{BufMut, Bytes, BytesMut};
use pgscope_protocol::{Decoded, Decoder, Frame, Limits, ProtocolError};

/// Wants every message type.
pub fn all(_: u8) -> bool {
    true
}

/// Wants everything except DataRow and CopyData, like the session does for server traffic.
pub fn not_rows(tag: u8) -> bool {
    !matches!(tag, b'D' | b'd')
}

/// Concatenates messages into one stream.
pub fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.put_slice(p);
    }
    out.freeze()
}

/// Pushes `chunks` one by one, draining the decoder after each push; stops at the first error.
pub fn decode_chunks(
    chunks: &[Bytes],
    wants: fn(u8) -> bool,
) -> (Vec<Decoded>, Option<ProtocolError>, Decoder) {
    let mut d = Decoder::new(Limits::default(), wants);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c.clone());
        loop {
            match d.next() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e), d),
            }
        }
    }
    (out, None, d)
}

/// The single frame a complete encoded message decodes to.
pub fn frame_of(message: Bytes) -> Frame {
    let (out, err, d) = decode_chunks(&[message], all);
    assert_eq!(err, None);
    assert!(d.at_boundary());
    match <[Decoded; 1]>::try_from(out) {
        Ok([Decoded::Frame(f)]) => f,
        other => panic!("expected one frame, got {other:?}"),
    }
}

/// A frame with an arbitrary body and a correct length field.
pub fn raw_frame(tag: u8, body: &[u8]) -> Frame {
    let mut b = BytesMut::new();
    b.put_u8(tag);
    b.put_u32(u32::try_from(body.len() + 4).unwrap());
    b.put_slice(body);
    Frame {
        tag,
        bytes: b.freeze(),
    }
}
