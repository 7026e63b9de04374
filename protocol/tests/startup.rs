//! Startup-phase packets: StartupMessage (3.0 and 3.2), SSL/GSSENC requests, cancel keys, lengths.

use bytes::{BufMut, Bytes, BytesMut};
use pgscope_protocol::encode::frontend as fe;
use pgscope_protocol::startup::{
    parse_startup, CancelRequest, StartupPacket, CANCEL_REQUEST_CODE, SSL_REQUEST_CODE,
};
use pgscope_protocol::{Limits, ProtocolError};

fn parse_one(packet: &Bytes) -> Result<Option<(StartupPacket, Bytes)>, ProtocolError> {
    let mut buf = BytesMut::from(&packet[..]);
    parse_startup(&mut buf, &Limits::default())
}

fn raw_packet(code: u32, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(u32::try_from(8 + body.len()).unwrap());
    b.put_u32(code);
    b.put_slice(body);
    b.freeze()
}

#[test]
fn startup_message_exposes_version_and_params() {
    let packet = fe::startup(
        (3, 0),
        &[
            ("user", "alice"),
            ("database", "shop"),
            ("application_name", ""),
        ],
    );
    let mut buf = BytesMut::from(&packet[..]);
    let (parsed, bytes) = parse_startup(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert!(buf.is_empty());
    assert_eq!(bytes, packet);
    let StartupPacket::Startup(m) = parsed else {
        panic!("expected StartupMessage")
    };
    assert_eq!(m.version(), (3, 0));
    assert_eq!(m.param("user"), Some(&b"alice"[..]));
    assert_eq!(m.param("database"), Some(&b"shop"[..]));
    assert_eq!(m.param("application_name"), Some(&b""[..]));
    assert_eq!(m.param("replication"), None);
    let names: Vec<&[u8]> = m.params().map(|(n, _)| n).collect();
    assert_eq!(names, [&b"user"[..], b"database", b"application_name"]);
}

#[test]
fn protocol_3_2_is_a_startup_message() {
    let packet = fe::startup((3, 2), &[("user", "u"), ("_pq_.test", "1")]);
    let Ok(Some((StartupPacket::Startup(m), _))) = parse_one(&packet) else {
        panic!("expected StartupMessage")
    };
    assert_eq!(m.version(), (3, 2));
    assert_eq!(m.param("_pq_.test"), Some(&b"1"[..]));
}

#[test]
fn startup_without_params_is_valid() {
    let packet = fe::startup((3, 0), &[]);
    let Ok(Some((StartupPacket::Startup(m), _))) = parse_one(&packet) else {
        panic!("expected StartupMessage")
    };
    assert_eq!(m.params().count(), 0);
}

#[test]
fn every_prefix_of_a_packet_needs_more_and_leaves_buf_alone() {
    let packet = fe::startup((3, 0), &[("user", "alice")]);
    for i in 0..packet.len() {
        let mut buf = BytesMut::from(&packet[..i]);
        assert_eq!(
            parse_startup(&mut buf, &Limits::default()),
            Ok(None),
            "prefix {i}"
        );
        assert_eq!(&buf[..], &packet[..i]);
    }
}

#[test]
fn ssl_and_gssenc_requests_are_recognised() {
    assert_eq!(
        parse_one(&fe::ssl_request()).unwrap().map(|p| p.0),
        Some(StartupPacket::SslRequest)
    );
    assert_eq!(
        parse_one(&fe::gssenc_request()).unwrap().map(|p| p.0),
        Some(StartupPacket::GssEncRequest)
    );
}

#[test]
fn ssl_request_then_startup_parse_in_order_from_one_buffer() {
    let startup = fe::startup((3, 0), &[("user", "bob")]);
    let mut buf = BytesMut::new();
    buf.put_slice(&fe::ssl_request());
    buf.put_slice(&startup);
    let limits = Limits::default();
    let (first, first_bytes) = parse_startup(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(first, StartupPacket::SslRequest);
    assert_eq!(first_bytes, fe::ssl_request());
    let (second, second_bytes) = parse_startup(&mut buf, &limits).unwrap().unwrap();
    assert!(matches!(second, StartupPacket::Startup(_)));
    assert_eq!(second_bytes, startup);
    assert!(buf.is_empty());
}

#[test]
fn ssl_request_with_a_body_is_malformed() {
    let packet = raw_packet(SSL_REQUEST_CODE, b"x");
    assert!(matches!(
        parse_one(&packet),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

fn cancel_of(key: &[u8]) -> Result<Option<(StartupPacket, Bytes)>, ProtocolError> {
    parse_one(&fe::cancel_request(4242, key))
}

#[test]
fn cancel_request_with_3_0_key_of_4_bytes() {
    let Ok(Some((StartupPacket::Cancel(c), bytes))) = cancel_of(&[1, 2, 3, 4]) else {
        panic!("expected CancelRequest")
    };
    assert_eq!(bytes.len(), 16);
    assert_eq!(
        c,
        CancelRequest {
            pid: 4242,
            key: Bytes::from_static(&[1, 2, 3, 4])
        }
    );
}

#[test]
fn cancel_request_with_3_2_key_of_32_bytes() {
    let key: Vec<u8> = (0..32).collect();
    let Ok(Some((StartupPacket::Cancel(c), bytes))) = cancel_of(&key) else {
        panic!("expected CancelRequest")
    };
    assert_eq!(bytes.len(), 12 + 32);
    assert_eq!(c.pid, 4242);
    assert_eq!(&c.key[..], &key[..]);
}

#[test]
fn cancel_key_of_256_bytes_is_the_maximum() {
    assert!(matches!(
        cancel_of(&[9; 256]),
        Ok(Some((StartupPacket::Cancel(_), _)))
    ));
    assert!(matches!(
        cancel_of(&[9; 257]),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

#[test]
fn cancel_request_without_key_is_malformed() {
    assert!(matches!(
        cancel_of(&[]),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
    let no_pid = raw_packet(CANCEL_REQUEST_CODE, &[0, 0]);
    assert!(matches!(
        parse_one(&no_pid),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

#[test]
fn length_below_eight_is_rejected() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 7][..]);
    assert_eq!(
        parse_startup(&mut buf, &Limits::default()),
        Err(ProtocolError::BadStartupLength { len: 7 })
    );
}

#[test]
fn oversize_is_rejected_from_the_length_alone() {
    let mut buf = BytesMut::from(&10_001u32.to_be_bytes()[..]);
    assert_eq!(
        parse_startup(&mut buf, &Limits::default()),
        Err(ProtocolError::StartupTooLong {
            len: 10_001,
            max: 10_000
        })
    );
}

#[test]
fn unknown_codes_are_rejected() {
    for code in [2 << 16, 4 << 16 | 1, 1234 << 16 | 9999] {
        assert_eq!(
            parse_one(&raw_packet(code, b"\0")),
            Err(ProtocolError::UnknownStartupCode { code })
        );
    }
}

#[test]
fn params_without_final_nul_are_malformed() {
    assert!(matches!(
        parse_one(&raw_packet(3 << 16, b"user\0alice\0")),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

#[test]
fn param_without_value_is_malformed() {
    assert!(matches!(
        parse_one(&raw_packet(3 << 16, b"user\0")),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
    assert!(matches!(
        parse_one(&raw_packet(3 << 16, b"user\0alice")),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

#[test]
fn bytes_after_final_nul_are_malformed() {
    assert!(matches!(
        parse_one(&raw_packet(3 << 16, b"user\0alice\0\0x")),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}

#[test]
fn empty_parameter_list_without_terminator_is_malformed() {
    assert!(matches!(
        parse_one(&raw_packet(3 << 16, b"")),
        Err(ProtocolError::Malformed { tag: 0, .. })
    ));
}
