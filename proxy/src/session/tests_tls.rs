//! Session tests for TLS: the startup answers (`S`, unencrypted bytes after it, plaintext under
//! `tls.mode = require`, a second `SSLRequest`), the SCRAM filter of TLS upstreams (PLUS removed
//! from the mechanism list however the message is split, nothing rewritten once authentication
//! is over or when the upstream is plaintext, the `y` gs2 flag refused with a hint), and the
//! startup deadline's answer.

use bytes::{Bytes, BytesMut};
use pgscope_config::TlsMode;
use pgscope_protocol::encode::{backend as be, frontend as fe};

use super::{Action, Output, Phase, Session, SessionConfig};

fn session(client_tls: TlsMode) -> Session {
    Session::new(SessionConfig {
        client_tls,
        ..SessionConfig::default()
    })
}

fn startup() -> Bytes {
    fe::startup((3, 0), &[("user", "alice"), ("database", "shop")])
}

fn concat(parts: &[Bytes]) -> Vec<u8> {
    parts.iter().flat_map(|part| part.iter().copied()).collect()
}

/// A session past its startup packet, connected to an upstream that is TLS or not.
fn connected(upstream_tls: bool) -> Session {
    let mut s = session(TlsMode::Disable);
    let mut out = Output::default();
    s.on_client_startup(&mut BytesMut::from(&startup()[..]), &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    s.on_upstream_connected(upstream_tls);
    s
}

#[test]
fn ssl_request_gets_s_and_a_handshake_when_tls_is_configured() {
    let mut s = session(TlsMode::Allow);
    let mut out = Output::default();
    s.on_client_startup(&mut BytesMut::from(&fe::ssl_request()[..]), &mut out);
    assert_eq!(concat(&out.to_client), b"S");
    assert_eq!(out.action, Some(Action::StartTls));
    s.on_client_tls();
    out.clear();
    s.on_client_startup(&mut BytesMut::from(&startup()[..]), &mut out);
    assert_eq!(out.action, Some(Action::Connect));
    assert!(s.client_tls());
}

#[test]
fn ssl_request_gets_n_when_tls_is_disabled() {
    let mut s = session(TlsMode::Disable);
    let mut out = Output::default();
    s.on_client_startup(&mut BytesMut::from(&fe::ssl_request()[..]), &mut out);
    assert_eq!(concat(&out.to_client), b"N");
    assert_eq!(out.action, None);
}

#[test]
fn bytes_sent_in_the_clear_after_ssl_request_are_refused() {
    let mut s = session(TlsMode::Allow);
    let mut out = Output::default();
    let mut buf = BytesMut::from(&fe::ssl_request()[..]);
    buf.extend_from_slice(&startup());
    s.on_client_startup(&mut buf, &mut out);
    let mut expected = b"S".to_vec();
    expected.extend_from_slice(&be::error_response(
        "FATAL",
        "08P01",
        "received unencrypted data after SSL request",
    ));
    assert_eq!(concat(&out.to_client), expected);
    assert_eq!(out.action, Some(Action::Close));
    assert_eq!(s.phase(), Phase::Closed);
}

#[test]
fn tls_mode_require_refuses_a_plaintext_startup_with_28000() {
    let mut s = session(TlsMode::Require);
    let mut out = Output::default();
    s.on_client_startup(&mut BytesMut::from(&startup()[..]), &mut out);
    assert_eq!(out.action, Some(Action::Close));
    assert!(out.to_server.is_empty(), "nothing reaches the server");
    let text = String::from_utf8_lossy(&concat(&out.to_client)).into_owned();
    assert!(
        text.contains("28000") && text.contains("pgscope requires TLS"),
        "{text}"
    );
}

#[test]
fn a_second_ssl_request_over_tls_is_an_unsupported_protocol_as_in_postgresql() {
    let mut s = session(TlsMode::Allow);
    s.on_client_tls();
    let mut out = Output::default();
    s.on_client_startup(&mut BytesMut::from(&fe::ssl_request()[..]), &mut out);
    assert_eq!(out.action, Some(Action::Close));
    let text = String::from_utf8_lossy(&concat(&out.to_client)).into_owned();
    assert!(text.contains("0A000") && text.contains("unsupported frontend protocol 1234.5679"));
}

#[test]
fn scram_plus_is_removed_from_a_tls_upstreams_list_however_the_message_is_split() {
    let offer = be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    let challenge = be::auth_sasl_continue(b"r=abc,s=c2FsdA==,i=4096");
    let mut stream = offer.to_vec();
    stream.extend_from_slice(&challenge);
    for split in 1..stream.len() {
        let mut s = connected(true);
        let mut out = Output::default();
        let now = std::time::Instant::now();
        s.on_server_data(Bytes::copy_from_slice(&stream[..split]), now, &mut out);
        s.on_server_data(Bytes::copy_from_slice(&stream[split..]), now, &mut out);
        let mut expected = be::auth_sasl(&["SCRAM-SHA-256"]).to_vec();
        expected.extend_from_slice(&challenge);
        assert_eq!(concat(&out.to_client), expected, "split at {split}");
    }
}

#[test]
fn after_authentication_ok_server_chunks_pass_unchanged() {
    let mut s = connected(true);
    let mut out = Output::default();
    let now = std::time::Instant::now();
    let mut first = be::auth_ok().to_vec();
    first.extend_from_slice(&be::parameter_status("server_version", "15"));
    s.on_server_data(Bytes::from(first.clone()), now, &mut out);
    assert_eq!(concat(&out.to_client), first);
    out.clear();
    // A later AuthenticationSASL-looking message is not touched (the filter is gone).
    let later = be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    s.on_server_data(later.clone(), now, &mut out);
    assert_eq!(out.to_client.to_vec(), vec![later]);
}

#[test]
fn a_plaintext_upstreams_sasl_list_is_not_rewritten() {
    let mut s = connected(false);
    let mut out = Output::default();
    let offer = be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    s.on_server_data(offer.clone(), std::time::Instant::now(), &mut out);
    assert_eq!(out.to_client.to_vec(), vec![offer]);
}

#[test]
fn a_gs2_y_flag_over_a_tls_upstream_is_refused_with_a_hint_and_n_passes() {
    let now = std::time::Instant::now();
    for (flag, refused) in [("y,,", true), ("n,,", false)] {
        let mut s = connected(true);
        let mut out = Output::default();
        s.on_server_data(
            be::auth_sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]),
            now,
            &mut out,
        );
        out.clear();
        let initial = fe::sasl_initial_response(
            "SCRAM-SHA-256",
            Some(format!("{flag}n=,r=rOprNGfwEbeRWgbNEkqO").as_bytes()),
        );
        // Split in two reads: the filter waits for the whole message.
        s.on_client_data(initial.slice(..7), now, &mut out);
        assert!(out.to_server.is_empty() && out.action.is_none());
        s.on_client_data(initial.slice(7..), now, &mut out);
        if refused {
            assert_eq!(out.action, Some(Action::Close), "{flag}");
            assert!(
                out.to_server.is_empty(),
                "{flag}: nothing reaches the server"
            );
            let text = String::from_utf8_lossy(&concat(&out.to_client)).into_owned();
            assert!(
                text.contains("28000") && text.contains("channel_binding=disable"),
                "{text}"
            );
        } else {
            assert_eq!(out.action, None, "{flag}");
            assert_eq!(concat(&out.to_server), initial.to_vec(), "{flag}");
        }
    }
}

#[test]
fn a_startup_past_its_deadline_is_told_as_postgresql_tells_it() {
    let mut s = connected(false);
    assert!(!s.is_ready());
    let mut out = Output::default();
    s.on_startup_timeout(&mut out);
    assert_eq!(out.action, Some(Action::Close));
    let text = String::from_utf8_lossy(&concat(&out.to_client)).into_owned();
    assert!(text.contains("57014") && text.contains("canceling authentication due to timeout"));
    assert_eq!(concat(&out.to_server), fe::terminate().to_vec());
}
