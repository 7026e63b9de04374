//! Messages a server sends (and pgscope's own replies to clients).

use bytes::Bytes;

use super::{count_u16, Message};

/// The OID of type `text`, used for the columns of [`row_description`].
const TEXT_OID: u32 = 25;

fn authentication(code: u32) -> Message {
    Message::tagged(b'R').u32(code)
}

/// AuthenticationOk.
pub fn auth_ok() -> Bytes {
    authentication(0).finish()
}

/// AuthenticationCleartextPassword.
pub fn auth_cleartext_password() -> Bytes {
    authentication(3).finish()
}

/// AuthenticationMD5Password with `salt`.
pub fn auth_md5_password(salt: [u8; 4]) -> Bytes {
    authentication(5).raw(&salt).finish()
}

/// AuthenticationSASL offering these mechanisms.
pub fn auth_sasl(mechanisms: &[&str]) -> Bytes {
    let mut m = authentication(10);
    for name in mechanisms {
        m = m.cstr(name.as_bytes());
    }
    m.u8(0).finish()
}

/// AuthenticationSASLContinue carrying a challenge.
pub fn auth_sasl_continue(data: &[u8]) -> Bytes {
    authentication(11).raw(data).finish()
}

/// AuthenticationSASLFinal carrying the outcome data.
pub fn auth_sasl_final(data: &[u8]) -> Bytes {
    authentication(12).raw(data).finish()
}

/// BackendKeyData: the process id and secret key (any length; 4 bytes before protocol 3.2).
pub fn backend_key_data(pid: u32, key: &[u8]) -> Bytes {
    Message::tagged(b'K').u32(pid).raw(key).finish()
}

/// ParameterStatus.
pub fn parameter_status(name: &str, value: &str) -> Bytes {
    Message::tagged(b'S')
        .cstr(name.as_bytes())
        .cstr(value.as_bytes())
        .finish()
}

/// ReadyForQuery with transaction `status` b'I', b'T' or b'E'.
pub fn ready_for_query(status: u8) -> Bytes {
    Message::tagged(b'Z').u8(status).finish()
}

/// CommandComplete with `tag`, e.g. "SELECT 1".
pub fn command_complete(tag: &str) -> Bytes {
    Message::tagged(b'C').cstr(tag.as_bytes()).finish()
}

/// EmptyQueryResponse.
pub fn empty_query_response() -> Bytes {
    Message::tagged(b'I').finish()
}

/// ParseComplete.
pub fn parse_complete() -> Bytes {
    Message::tagged(b'1').finish()
}

/// BindComplete.
pub fn bind_complete() -> Bytes {
    Message::tagged(b'2').finish()
}

/// CloseComplete.
pub fn close_complete() -> Bytes {
    Message::tagged(b'3').finish()
}

/// NoData.
pub fn no_data() -> Bytes {
    Message::tagged(b'n').finish()
}

/// PortalSuspended.
pub fn portal_suspended() -> Bytes {
    Message::tagged(b's').finish()
}

/// ParameterDescription listing these parameter type OIDs.
pub fn parameter_description(oids: &[u32]) -> Bytes {
    let mut m = Message::tagged(b't').u16(count_u16(oids.len()));
    for oid in oids {
        m = m.u32(*oid);
    }
    m.finish()
}

/// RowDescription of text-format `text` columns with these names.
pub fn row_description(fields: &[&str]) -> Bytes {
    let mut m = Message::tagged(b'T').u16(count_u16(fields.len()));
    for name in fields {
        m = m
            .cstr(name.as_bytes())
            .u32(0) // table OID
            .i16(0) // column number
            .u32(TEXT_OID)
            .i16(-1) // type length: variable
            .i32(-1) // type modifier
            .i16(0); // format: text
    }
    m.finish()
}

/// DataRow with these values (`None` is SQL NULL).
pub fn data_row(values: &[Option<&[u8]>]) -> Bytes {
    let mut m = Message::tagged(b'D').u16(count_u16(values.len()));
    for value in values {
        m = m.nullable(*value);
    }
    m.finish()
}

fn copy_response(tag: u8, columns: u16) -> Bytes {
    let mut m = Message::tagged(tag).u8(0).u16(columns);
    for _ in 0..columns {
        m = m.i16(0);
    }
    m.finish()
}

/// CopyInResponse, text format.
pub fn copy_in_response(columns: u16) -> Bytes {
    copy_response(b'G', columns)
}

/// CopyOutResponse, text format.
pub fn copy_out_response(columns: u16) -> Bytes {
    copy_response(b'H', columns)
}

/// CopyBothResponse, text format.
pub fn copy_both_response(columns: u16) -> Bytes {
    copy_response(b'W', columns)
}

/// CopyData carrying `data`.
pub fn copy_data(data: &[u8]) -> Bytes {
    Message::tagged(b'd').raw(data).finish()
}

/// CopyDone.
pub fn copy_done() -> Bytes {
    Message::tagged(b'c').finish()
}

/// FunctionCallResponse with the result (`None` is NULL).
pub fn function_call_response(value: Option<&[u8]>) -> Bytes {
    Message::tagged(b'V').nullable(value).finish()
}

/// NegotiateProtocolVersion: the newest supported minor version and the unrecognized options.
pub fn negotiate_protocol_version(newest_minor: u32, unrecognized: &[&str]) -> Bytes {
    let mut m = Message::tagged(b'v')
        .u32(newest_minor)
        .u32(u32::try_from(unrecognized.len()).unwrap_or(u32::MAX));
    for name in unrecognized {
        m = m.cstr(name.as_bytes());
    }
    m.finish()
}

/// NotificationResponse from backend `pid` on `channel`.
pub fn notification(pid: u32, channel: &str, payload: &str) -> Bytes {
    Message::tagged(b'A')
        .u32(pid)
        .cstr(channel.as_bytes())
        .cstr(payload.as_bytes())
        .finish()
}

fn fields(tag: u8, fields: &[(u8, &str)]) -> Bytes {
    let mut m = Message::tagged(tag);
    for (code, value) in fields {
        if *code != 0 {
            m = m.u8(*code).cstr(value.as_bytes());
        }
    }
    m.u8(0).finish()
}

/// ErrorResponse with fields S and V (both `severity`), C (`sqlstate`) and M (`message`).
pub fn error_response(severity: &str, sqlstate: &str, message: &str) -> Bytes {
    error_response_fields(&[
        (b'S', severity),
        (b'V', severity),
        (b'C', sqlstate),
        (b'M', message),
    ])
}

/// NoticeResponse with fields S and V (both `severity`), C (`sqlstate`) and M (`message`).
pub fn notice_response(severity: &str, sqlstate: &str, message: &str) -> Bytes {
    notice_response_fields(&[
        (b'S', severity),
        (b'V', severity),
        (b'C', sqlstate),
        (b'M', message),
    ])
}

/// ErrorResponse with arbitrary (code, value) fields; a code of 0 is skipped, since it would
/// end the list.
pub fn error_response_fields(list: &[(u8, &str)]) -> Bytes {
    fields(b'E', list)
}

/// NoticeResponse with arbitrary (code, value) fields; a code of 0 is skipped.
pub fn notice_response_fields(list: &[(u8, &str)]) -> Bytes {
    fields(b'N', list)
}
