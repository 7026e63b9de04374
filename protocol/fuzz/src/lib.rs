//! Shared driver of the fuzz targets: feeds arbitrary bytes, in arbitrary chunking, through a
//! [`Decoder`] and checks the properties every chunking must keep.

use bytes::Bytes;
use pgscope_protocol::{Decoded, Decoder, Limits, ProtocolError};

/// What decoding a whole stream produced: the messages, then the error that stopped it, if any.
pub type Outcome = (Vec<Decoded>, Option<ProtocolError>);

/// Splits `data` into its chunking seed (first two bytes) and the stream itself.
pub fn split_input(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (0, data),
    }
}

/// Chunk sizes drawn from `seed` by a small xorshift generator: 1 to 64 bytes, sometimes large.
pub fn chunks(stream: &Bytes, seed: u16) -> Vec<Bytes> {
    let mut state = u32::from(seed) | 0x1_0000;
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = if state % 8 == 0 {
            4096
        } else {
            (state % 64 + 1) as usize
        };
        let end = (at + size).min(stream.len());
        out.push(stream.slice(at..end));
        at = end;
    }
    out
}

/// Pushes `chunks` in order, draining after each, and checks byte accounting as it goes.
pub fn decode(chunks: &[Bytes], limits: Limits, wants: fn(u8) -> bool) -> Outcome {
    let mut d = Decoder::new(limits, wants);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c.clone());
        loop {
            match d.next() {
                Ok(Some(m)) => {
                    if let Decoded::Frame(f) = &m {
                        assert_eq!(f.bytes.len(), f.len_field() as usize + 1);
                        assert_eq!(f.bytes.first(), Some(&f.tag));
                        assert!(wants(f.tag));
                    }
                    if let Decoded::Skipped { tag, len } = &m {
                        assert!(!wants(*tag));
                        assert!(*len >= 4 && *len <= limits.max_message_len);
                    }
                    out.push(m);
                }
                Ok(None) => break,
                Err(e) => {
                    // Sticky: the same error again, whatever is pushed.
                    d.push(Bytes::from_static(b"S\0\0\0\x04"));
                    assert_eq!(d.next(), Err(e.clone()));
                    return (out, Some(e));
                }
            }
        }
    }
    (out, None)
}

/// Decodes `stream` whole and in the chunking `seed` picks; both must agree exactly. Returns the
/// frames' outcome for the caller to parse.
pub fn decode_both_ways(
    stream: &[u8],
    seed: u16,
    limits: Limits,
    wants: fn(u8) -> bool,
) -> Outcome {
    let stream = Bytes::copy_from_slice(stream);
    let whole = decode(std::slice::from_ref(&stream), limits, wants);
    let chunked = decode(&chunks(&stream, seed), limits, wants);
    assert_eq!(whole, chunked, "chunking changed the decoded messages");
    whole
}

/// Small limits, so that the length checks are reached by short inputs too.
pub fn small_limits() -> Limits {
    Limits {
        max_message_len: 512,
        max_startup_len: 300,
    }
}
