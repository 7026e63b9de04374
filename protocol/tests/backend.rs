//! Server messages: encode → Decoder → parse round trips, error fields, and malformed bodies.

mod common;

use bytes::Bytes;
use common::{frame_of, raw_frame};
use pgscope_protocol::backend::{Authentication, BackendMessage};
use pgscope_protocol::encode::backend as be;
use pgscope_protocol::ProtocolError;

fn round_trip(message: Bytes, expected: BackendMessage<'_>) {
    let frame = frame_of(message);
    assert_eq!(BackendMessage::parse(&frame), Ok(expected));
}

#[test]
fn authentication_requests_round_trip() {
    use Authentication as A;
    use BackendMessage::Authentication as Auth;
    round_trip(be::auth_ok(), Auth(A::Ok));
    round_trip(be::auth_cleartext_password(), Auth(A::CleartextPassword));
    round_trip(
        be::auth_md5_password([1, 2, 3, 4]),
        Auth(A::Md5Password { salt: [1, 2, 3, 4] }),
    );
    round_trip(
        be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]),
        Auth(A::Sasl {
            mechanisms: b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
        }),
    );
    round_trip(
        be::auth_sasl_continue(b"r=abc,s=def,i=4096"),
        Auth(A::SaslContinue {
            data: b"r=abc,s=def,i=4096",
        }),
    );
    round_trip(
        be::auth_sasl_final(b"v=xyz"),
        Auth(A::SaslFinal { data: b"v=xyz" }),
    );
    for (code, expected) in [(2u32, A::KerberosV5), (7, A::Gss), (9, A::Sspi)] {
        let frame = raw_frame(b'R', &code.to_be_bytes());
        assert_eq!(BackendMessage::parse(&frame), Ok(Auth(expected)));
    }
    let mut gss = 8u32.to_be_bytes().to_vec();
    gss.extend_from_slice(b"token");
    let frame = raw_frame(b'R', &gss);
    assert_eq!(
        BackendMessage::parse(&frame),
        Ok(Auth(A::GssContinue { data: b"token" }))
    );
}

#[test]
fn sasl_mechanisms_iterate_in_order() {
    let frame = frame_of(be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
    let Ok(BackendMessage::Authentication(auth)) = BackendMessage::parse(&frame) else {
        panic!("expected Authentication")
    };
    let names: Vec<&[u8]> = auth.mechanisms().collect();
    assert_eq!(names, [&b"SCRAM-SHA-256-PLUS"[..], b"SCRAM-SHA-256"]);
    assert_eq!(Authentication::Ok.mechanisms().count(), 0);
}

#[test]
fn every_other_message_round_trips() {
    use BackendMessage as M;
    let key32 = [7u8; 32];
    round_trip(
        be::backend_key_data(99, &[1, 2, 3, 4]),
        M::BackendKeyData {
            pid: 99,
            key: &[1, 2, 3, 4],
        },
    );
    round_trip(
        be::backend_key_data(99, &key32),
        M::BackendKeyData {
            pid: 99,
            key: &key32,
        },
    );
    round_trip(be::bind_complete(), M::BindComplete);
    round_trip(be::close_complete(), M::CloseComplete);
    round_trip(be::parse_complete(), M::ParseComplete);
    round_trip(be::no_data(), M::NoData);
    round_trip(be::portal_suspended(), M::PortalSuspended);
    round_trip(be::empty_query_response(), M::EmptyQueryResponse);
    round_trip(be::copy_done(), M::CopyDone);
    round_trip(
        be::command_complete("INSERT 0 5"),
        M::CommandComplete { tag: b"INSERT 0 5" },
    );
    round_trip(
        be::copy_in_response(3),
        M::CopyInResponse {
            format: 0,
            columns: 3,
        },
    );
    round_trip(
        be::copy_out_response(2),
        M::CopyOutResponse {
            format: 0,
            columns: 2,
        },
    );
    round_trip(
        be::copy_both_response(0),
        M::CopyBothResponse {
            format: 0,
            columns: 0,
        },
    );
    round_trip(be::copy_data(b"1\tx\n"), M::CopyData { data: b"1\tx\n" });
    round_trip(be::data_row(&[Some(b"1"), None, Some(b"")]), M::DataRow);
    round_trip(
        be::function_call_response(Some(b"42")),
        M::FunctionCallResponse { value: Some(b"42") },
    );
    round_trip(
        be::function_call_response(None),
        M::FunctionCallResponse { value: None },
    );
    round_trip(
        be::negotiate_protocol_version(0, &["_pq_.a", "_pq_.b"]),
        M::NegotiateProtocolVersion {
            newest_minor: 0,
            unrecognized: 2,
        },
    );
    round_trip(
        be::notification(7, "jobs", "{\"id\":1}"),
        M::NotificationResponse {
            pid: 7,
            channel: b"jobs",
            payload: b"{\"id\":1}",
        },
    );
    round_trip(
        be::parameter_description(&[23, 25]),
        M::ParameterDescription { params: 2 },
    );
    round_trip(
        be::parameter_status("TimeZone", "UTC"),
        M::ParameterStatus {
            name: b"TimeZone",
            value: b"UTC",
        },
    );
    for status in [b'I', b'T', b'E'] {
        round_trip(be::ready_for_query(status), M::ReadyForQuery { status });
    }
    round_trip(be::row_description(&["id", "name"]), M::RowDescription);
    let frame = raw_frame(b'?', b"xyz");
    assert_eq!(
        BackendMessage::parse(&frame),
        Ok(M::Unknown {
            tag: b'?',
            body: b"xyz"
        })
    );
}

#[test]
fn error_response_fields_are_readable() {
    let frame = frame_of(be::error_response(
        "ERROR",
        "42P01",
        "relation \"t\" does not exist",
    ));
    let Ok(BackendMessage::ErrorResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected ErrorResponse")
    };
    assert_eq!(fields.sqlstate(), Some(*b"42P01"));
    assert_eq!(fields.severity(), Some(&b"ERROR"[..]));
    assert_eq!(
        fields.message(),
        Some(&b"relation \"t\" does not exist"[..])
    );
    let codes: Vec<u8> = fields.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, b"SVCM");
}

#[test]
fn notice_severity_prefers_unlocalized_v() {
    let frame = frame_of(be::notice_response_fields(&[
        (b'S', "HINWEIS"),
        (b'V', "NOTICE"),
        (b'M', "x"),
    ]));
    let Ok(BackendMessage::NoticeResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected NoticeResponse")
    };
    assert_eq!(fields.severity(), Some(&b"NOTICE"[..]));
    assert_eq!(fields.sqlstate(), None);
    let frame = frame_of(be::notice_response_fields(&[(b'S', "WARNING")]));
    let Ok(BackendMessage::NoticeResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected NoticeResponse")
    };
    assert_eq!(fields.severity(), Some(&b"WARNING"[..]));
    assert_eq!(fields.message(), None);
}

#[test]
fn sqlstate_of_wrong_length_is_none() {
    let frame = frame_of(be::error_response_fields(&[(b'C', "4200")]));
    let Ok(BackendMessage::ErrorResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected ErrorResponse")
    };
    assert_eq!(fields.sqlstate(), None);
}

#[test]
fn interior_nul_in_encoded_text_is_dropped() {
    let frame = frame_of(be::error_response("ERROR", "XX000", "bad\0message"));
    let Ok(BackendMessage::ErrorResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected ErrorResponse")
    };
    assert_eq!(fields.message(), Some(&b"badmessage"[..]));
}

fn malformed(tag: u8, body: &[u8]) {
    let frame = raw_frame(tag, body);
    assert!(
        matches!(BackendMessage::parse(&frame), Err(ProtocolError::Malformed { tag: t, .. }) if t == tag),
        "{} {:?} should be malformed",
        tag as char,
        body
    );
}

#[test]
fn malformed_bodies_are_rejected() {
    malformed(b'R', b"");
    malformed(b'R', &[0, 0, 0, 5, 1, 2]);
    malformed(b'R', &[0, 0, 0, 99]);
    malformed(b'R', &[0, 0, 0, 10, b'S', b'C']);
    malformed(b'K', &[0, 0, 0, 1]);
    malformed(b'C', b"SELECT 1");
    malformed(b'G', &[0, 0, 2, 0, 0]);
    malformed(b'H', &[0]);
    malformed(b'D', &[0]);
    malformed(b'E', b"SERROR\0");
    malformed(b'E', b"SERROR");
    malformed(b'N', b"");
    malformed(b'V', &[0xff, 0xff, 0xff, 0xfe]);
    malformed(b'V', &[0, 0, 0, 3, b'a']);
    malformed(b'v', &[0, 0, 0, 0, 0, 0, 0, 1]);
    malformed(b'A', &[0, 0, 0, 1, b'c', 0]);
    malformed(b't', &[0, 1, 0, 0]);
    malformed(b'S', b"name\0value");
    malformed(b'Z', b"");
    malformed(b'Z', b"X");
    malformed(b'T', b"");
}

#[test]
fn trailing_bytes_from_later_protocol_versions_are_ignored() {
    let frame = raw_frame(b'Z', b"Iextra");
    assert_eq!(
        BackendMessage::parse(&frame),
        Ok(BackendMessage::ReadyForQuery { status: b'I' })
    );
}

#[test]
fn every_truncation_of_every_message_is_handled_without_panic() {
    let messages = [
        be::auth_md5_password([1, 2, 3, 4]),
        be::auth_sasl(&["SCRAM-SHA-256"]),
        be::backend_key_data(1, &[1, 2, 3, 4]),
        be::command_complete("SELECT 1"),
        be::copy_in_response(2),
        be::data_row(&[Some(b"x")]),
        be::error_response("ERROR", "42000", "m"),
        be::function_call_response(Some(b"abc")),
        be::negotiate_protocol_version(0, &["_pq_.x"]),
        be::notification(1, "c", "p"),
        be::parameter_description(&[23]),
        be::parameter_status("a", "b"),
        be::ready_for_query(b'I'),
        be::row_description(&["a"]),
    ];
    for m in messages {
        let whole = frame_of(m);
        assert!(BackendMessage::parse(&whole).is_ok());
        for cut in 0..whole.body().len() {
            let truncated = raw_frame(whole.tag, &whole.body()[..cut]);
            let parsed = BackendMessage::parse(&truncated);
            // Counted messages (DataRow, RowDescription) still parse once their count is there,
            // and BackendKeyData once its pid and one key byte are.
            let still_valid = match whole.tag {
                b'D' | b'T' => cut >= 2,
                b'K' => cut >= 5,
                _ => false,
            };
            if !still_valid {
                assert!(
                    parsed.is_err(),
                    "{} truncated to {cut} parsed",
                    whole.tag as char
                );
            }
        }
    }
}

#[test]
fn a_skipped_message_decodes_to_its_fieldless_view_or_unread() {
    use pgscope_protocol::{Decoded, Decoder, Limits, Message};
    let stream = common::concat(&[
        be::data_row(&[Some(b"1")]),
        be::row_description(&["a"]),
        be::parse_complete(),
        be::bind_complete(),
        be::close_complete(),
        be::no_data(),
        be::portal_suspended(),
        be::empty_query_response(),
        be::copy_done(),
        be::copy_data(b"xy"),
        be::command_complete("SELECT 1"),
    ]);
    let mut d = Decoder::new(Limits::default(), |tag| tag == b'C');
    d.push(stream);
    let mut got = Vec::new();
    while let Ok(Some(decoded)) = d.next() {
        let message = BackendMessage::decode(&decoded).map(|m| format!("{m:?}"));
        got.push((matches!(decoded, Decoded::Frame(_)), message));
    }
    use BackendMessage as M;
    let expected = [
        M::DataRow,
        M::RowDescription,
        M::ParseComplete,
        M::BindComplete,
        M::CloseComplete,
        M::NoData,
        M::PortalSuspended,
        M::EmptyQueryResponse,
        M::CopyDone,
        M::Unread { tag: b'd', len: 6 },
        M::CommandComplete { tag: b"SELECT 1" },
    ];
    let expected: Vec<_> = expected
        .iter()
        .enumerate()
        .map(|(i, m)| (i == 10, Ok(format!("{m:?}"))))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn error_fields_keep_the_first_sqlstate_and_prefer_v_whatever_the_order() {
    let frame = frame_of(be::error_response_fields(&[
        (b'V', "FATAL"),
        (b'C', "57P01"),
        (b'S', "FATAL-localized"),
        (b'C', "XX000"),
        (b'V', "PANIC"),
    ]));
    let Ok(BackendMessage::ErrorResponse(fields)) = BackendMessage::parse(&frame) else {
        panic!("expected ErrorResponse")
    };
    assert_eq!(fields.sqlstate(), Some(*b"57P01"));
    assert_eq!(fields.severity(), Some(&b"FATAL"[..]));
    assert_eq!(fields.field(b'C'), Some(&b"57P01"[..]));
}
