//! Arbitrary server bytes through the decoder (whole and chunked) and every backend view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgscope_protocol::backend::{command_tag, BackendMessage};
use pgscope_protocol::{Decoded, Limits};
use pgscope_protocol_fuzz::{decode_both_ways, small_limits, split_input};

fn all(_: u8) -> bool {
    true
}

fn not_rows(tag: u8) -> bool {
    !matches!(tag, b'D' | b'd')
}

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = split_input(data);
    let wants = if seed & 1 == 0 { all } else { not_rows };
    let limits = if seed & 2 == 0 {
        Limits::default()
    } else {
        small_limits()
    };
    let (messages, _) = decode_both_ways(stream, seed, limits, wants);
    for m in &messages {
        let Decoded::Frame(frame) = m else { continue };
        match BackendMessage::parse(frame) {
            Ok(BackendMessage::CommandComplete { tag }) => {
                let read = command_tag(tag);
                assert!(tag.starts_with(read.verb));
                assert_eq!(read.rows.is_some(), read.verb.len() < tag.len());
            }
            Ok(BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f)) => {
                for (code, _) in f.iter() {
                    assert_ne!(code, 0);
                }
                let _ = (f.sqlstate(), f.severity(), f.message());
            }
            Ok(BackendMessage::Authentication(a)) => {
                for name in a.mechanisms() {
                    assert!(!name.is_empty());
                }
            }
            _ => {}
        }
    }
});
