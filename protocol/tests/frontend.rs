//! Client messages: encode → Decoder → parse round trips, and malformed bodies.

mod common;

use bytes::Bytes;
use common::{frame_of, raw_frame};
use pgscope_protocol::encode::frontend as fe;
use pgscope_protocol::frontend::{
    parse_password, parse_sasl_initial_response, FrontendMessage, SaslInitialResponse,
};
use pgscope_protocol::ProtocolError;

fn round_trip(message: Bytes, expected: FrontendMessage<'_>) {
    let frame = frame_of(message);
    assert_eq!(FrontendMessage::parse(&frame), Ok(expected));
}

#[test]
fn every_message_round_trips() {
    use FrontendMessage as M;
    round_trip(
        fe::query("SELECT 1; SELECT 2"),
        M::Query {
            sql: b"SELECT 1; SELECT 2",
        },
    );
    round_trip(
        fe::parse("s1", "SELECT $1, $2", &[23, 0]),
        M::Parse {
            name: b"s1",
            sql: b"SELECT $1, $2",
            param_types: 2,
        },
    );
    round_trip(
        fe::parse("", "SELECT 1", &[]),
        M::Parse {
            name: b"",
            sql: b"SELECT 1",
            param_types: 0,
        },
    );
    round_trip(
        fe::bind("p1", "s1", &[Some(b"42"), None]),
        M::Bind {
            portal: b"p1",
            statement: b"s1",
        },
    );
    round_trip(
        fe::execute("p1", 100),
        M::Execute {
            portal: b"p1",
            max_rows: 100,
        },
    );
    round_trip(
        fe::describe(b'S', "s1"),
        M::Describe {
            kind: b'S',
            name: b"s1",
        },
    );
    round_trip(
        fe::describe(b'P', ""),
        M::Describe {
            kind: b'P',
            name: b"",
        },
    );
    round_trip(
        fe::close(b'S', "s1"),
        M::Close {
            kind: b'S',
            name: b"s1",
        },
    );
    round_trip(
        fe::close(b'P', "p1"),
        M::Close {
            kind: b'P',
            name: b"p1",
        },
    );
    round_trip(fe::sync(), M::Sync);
    round_trip(fe::flush(), M::Flush);
    round_trip(fe::terminate(), M::Terminate);
    round_trip(
        fe::copy_data(b"1\talice\n"),
        M::CopyData {
            data: b"1\talice\n",
        },
    );
    round_trip(fe::copy_done(), M::CopyDone);
    round_trip(
        fe::copy_fail("bad input"),
        M::CopyFail {
            message: b"bad input",
        },
    );
    round_trip(
        fe::function_call(1598, &[Some(b"x")]),
        M::FunctionCall { function_oid: 1598 },
    );
    round_trip(
        fe::password("secret"),
        M::AuthResponse { data: b"secret\0" },
    );
}

#[test]
fn unknown_tag_keeps_its_body() {
    let frame = raw_frame(b'?', b"abc");
    assert_eq!(
        FrontendMessage::parse(&frame),
        Ok(FrontendMessage::Unknown {
            tag: b'?',
            body: b"abc"
        })
    );
}

#[test]
fn password_message_decodes() {
    let frame = frame_of(fe::password("md5abcdef"));
    let Ok(FrontendMessage::AuthResponse { data }) = FrontendMessage::parse(&frame) else {
        panic!("expected AuthResponse")
    };
    assert_eq!(parse_password(data), Ok(&b"md5abcdef"[..]));
    assert!(parse_password(b"no nul").is_err());
    assert!(parse_password(b"pw\0extra").is_err());
}

#[test]
fn sasl_initial_response_decodes() {
    let frame = frame_of(fe::sasl_initial_response(
        "SCRAM-SHA-256",
        Some(b"n,,n=,r=abc"),
    ));
    let Ok(FrontendMessage::AuthResponse { data }) = FrontendMessage::parse(&frame) else {
        panic!("expected AuthResponse")
    };
    assert_eq!(
        parse_sasl_initial_response(data),
        Ok(SaslInitialResponse {
            mechanism: b"SCRAM-SHA-256",
            data: Some(b"n,,n=,r=abc")
        })
    );
    let frame = frame_of(fe::sasl_initial_response("SCRAM-SHA-256-PLUS", None));
    assert_eq!(
        parse_sasl_initial_response(frame.body()),
        Ok(SaslInitialResponse {
            mechanism: b"SCRAM-SHA-256-PLUS",
            data: None
        })
    );
}

#[test]
fn sasl_initial_response_with_wrong_length_is_malformed() {
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&5i32.to_be_bytes());
    body.extend_from_slice(b"abc");
    assert!(parse_sasl_initial_response(&body).is_err());
    body.extend_from_slice(b"def");
    assert!(parse_sasl_initial_response(&body).is_err());
    assert!(parse_sasl_initial_response(b"SCRAM").is_err());
}

fn malformed(tag: u8, body: &[u8]) {
    let frame = raw_frame(tag, body);
    assert!(
        matches!(FrontendMessage::parse(&frame), Err(ProtocolError::Malformed { tag: t, .. }) if t == tag),
        "{} {:?} should be malformed",
        tag as char,
        body
    );
}

#[test]
fn malformed_bodies_are_rejected() {
    malformed(b'Q', b"SELECT 1");
    malformed(b'Q', b"SELECT 1\0extra");
    malformed(b'P', b"s\0SELECT $1\0\0\x01");
    malformed(b'P', b"s\0SELECT 1\0");
    malformed(b'B', b"portal\0");
    malformed(b'E', b"p\0\0\0");
    malformed(b'D', b"Xname\0");
    malformed(b'D', b"S");
    malformed(b'C', b"Pname");
    malformed(b'C', b"");
    malformed(b'S', b"x");
    malformed(b'H', b"x");
    malformed(b'X', b"x");
    malformed(b'c', b"x");
    malformed(b'f', b"reason");
    malformed(b'F', b"\0\0");
}

#[test]
fn every_truncation_of_a_fully_decoded_message_is_malformed() {
    let messages = [
        fe::query("SELECT 1"),
        fe::parse("s", "SELECT $1", &[23]),
        fe::execute("p", 0),
        fe::describe(b'S', "s"),
        fe::close(b'P', "p"),
        fe::copy_fail("x"),
    ];
    for m in messages {
        let whole = frame_of(m);
        assert!(FrontendMessage::parse(&whole).is_ok());
        for cut in 0..whole.body().len() {
            let truncated = raw_frame(whole.tag, &whole.body()[..cut]);
            assert!(
                FrontendMessage::parse(&truncated).is_err(),
                "{} truncated to {cut} parsed",
                whole.tag as char
            );
        }
    }
}

#[test]
fn truncated_partially_decoded_messages_fail_only_before_their_decoded_fields() {
    // Bind decodes its two names, FunctionCall its OID: cutting inside those fails, after is fine.
    for (m, decoded_len) in [
        (fe::bind("p", "s", &[Some(b"1")]), 4),
        (fe::function_call(1, &[Some(b"x")]), 4),
    ] {
        let whole = frame_of(m);
        for cut in 0..whole.body().len() {
            let truncated = raw_frame(whole.tag, &whole.body()[..cut]);
            let parsed = FrontendMessage::parse(&truncated);
            assert_eq!(
                parsed.is_ok(),
                cut >= decoded_len,
                "{} cut {cut}",
                whole.tag as char
            );
        }
    }
}

#[test]
fn a_skipped_message_decodes_to_its_fieldless_view_or_unread() {
    use pgscope_protocol::{Decoded, Decoder, Limits, Message};
    let stream = common::concat(&[
        fe::sync(),
        fe::flush(),
        fe::copy_done(),
        fe::copy_data(b"abc"),
        fe::terminate(),
    ]);
    let mut d = Decoder::new(Limits::default(), |_| false);
    d.push(stream);
    let mut got = Vec::new();
    while let Ok(Some(decoded)) = d.next() {
        assert!(matches!(decoded, Decoded::Skipped { .. }));
        got.push(format!("{:?}", FrontendMessage::decode(&decoded)));
    }
    use FrontendMessage as M;
    let expected: Vec<_> = [
        M::Sync,
        M::Flush,
        M::CopyDone,
        M::Unread { tag: b'd', len: 7 },
        M::Terminate,
    ]
    .iter()
    .map(|m| format!("{:?}", Ok::<_, ProtocolError>(*m)))
    .collect();
    assert_eq!(got, expected);
}
