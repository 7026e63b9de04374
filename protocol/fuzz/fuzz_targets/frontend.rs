//! Arbitrary client bytes through the startup parser, the decoder (whole and chunked) and
//! every frontend view.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgscope_protocol::frontend::{parse_password, parse_sasl_initial_response, FrontendMessage};
use pgscope_protocol::startup::{parse_startup, StartupPacket};
use pgscope_protocol::{Decoded, Limits};
use pgscope_protocol_fuzz::{decode_both_ways, small_limits, split_input};

fn all(_: u8) -> bool {
    true
}

fn not_copy(tag: u8) -> bool {
    tag != b'd'
}

fn startup_phase(stream: &[u8], limits: &Limits) {
    let mut buf = BytesMut::from(stream);
    while let Ok(Some((packet, bytes))) = parse_startup(&mut buf, limits) {
        assert!(bytes.len() >= 8 && bytes.len() <= limits.max_startup_len as usize);
        match packet {
            StartupPacket::Startup(m) => {
                let _ = m.version();
                for (name, _) in m.params() {
                    assert!(!name.is_empty());
                }
                let _ = m.param("user");
            }
            StartupPacket::Cancel(c) => assert!(!c.key.is_empty() && c.key.len() <= 256),
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => assert_eq!(bytes.len(), 8),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = split_input(data);
    startup_phase(stream, &Limits::default());
    startup_phase(stream, &small_limits());
    let wants = if seed & 1 == 0 { all } else { not_copy };
    let limits = if seed & 2 == 0 {
        Limits::default()
    } else {
        small_limits()
    };
    let (messages, _) = decode_both_ways(stream, seed, limits, wants);
    for m in &messages {
        let Decoded::Frame(frame) = m else { continue };
        if let Ok(FrontendMessage::AuthResponse { data }) = FrontendMessage::parse(frame) {
            let _ = parse_password(data);
            let _ = parse_sasl_initial_response(data);
        }
    }
});
