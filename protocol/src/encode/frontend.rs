//! Messages a client sends.

use bytes::Bytes;

use super::{count_u16, Message};
use crate::startup::{CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE};

/// A StartupMessage requesting protocol `version` (major, minor) with these parameters.
pub fn startup(version: (u16, u16), params: &[(&str, &str)]) -> Bytes {
    let mut m = Message::untagged().u16(version.0).u16(version.1);
    for (name, value) in params {
        m = m.cstr(name.as_bytes()).cstr(value.as_bytes());
    }
    m.u8(0).finish()
}

/// An SSLRequest.
pub fn ssl_request() -> Bytes {
    Message::untagged().u32(SSL_REQUEST_CODE).finish()
}

/// A GSSENCRequest.
pub fn gssenc_request() -> Bytes {
    Message::untagged().u32(GSSENC_REQUEST_CODE).finish()
}

/// A CancelRequest for backend `pid` with its secret `key` (4 bytes in 3.0, up to 256 in 3.2).
pub fn cancel_request(pid: u32, key: &[u8]) -> Bytes {
    Message::untagged()
        .u32(CANCEL_REQUEST_CODE)
        .u32(pid)
        .raw(key)
        .finish()
}

/// A simple Query.
pub fn query(sql: &str) -> Bytes {
    Message::tagged(b'Q').cstr(sql.as_bytes()).finish()
}

/// A Parse of `sql` into statement `name`, with these parameter type OIDs (0 = unspecified).
pub fn parse(name: &str, sql: &str, param_oids: &[u32]) -> Bytes {
    let mut m = Message::tagged(b'P')
        .cstr(name.as_bytes())
        .cstr(sql.as_bytes())
        .u16(count_u16(param_oids.len()));
    for oid in param_oids {
        m = m.u32(*oid);
    }
    m.finish()
}

/// A Bind of `statement` into `portal`, all parameters and results in text format.
pub fn bind(portal: &str, statement: &str, params: &[Option<&[u8]>]) -> Bytes {
    let mut m = Message::tagged(b'B')
        .cstr(portal.as_bytes())
        .cstr(statement.as_bytes())
        .u16(0)
        .u16(count_u16(params.len()));
    for value in params {
        m = m.nullable(*value);
    }
    m.u16(0).finish()
}

/// An Execute of `portal`, returning at most `max_rows` rows (0 = all).
pub fn execute(portal: &str, max_rows: i32) -> Bytes {
    Message::tagged(b'E')
        .cstr(portal.as_bytes())
        .i32(max_rows)
        .finish()
}

/// A Describe of a statement (`kind` b'S') or portal (b'P').
pub fn describe(kind: u8, name: &str) -> Bytes {
    Message::tagged(b'D')
        .u8(kind)
        .cstr(name.as_bytes())
        .finish()
}

/// A Close of a statement (`kind` b'S') or portal (b'P').
pub fn close(kind: u8, name: &str) -> Bytes {
    Message::tagged(b'C')
        .u8(kind)
        .cstr(name.as_bytes())
        .finish()
}

/// A Sync.
pub fn sync() -> Bytes {
    Message::tagged(b'S').finish()
}

/// A Flush.
pub fn flush() -> Bytes {
    Message::tagged(b'H').finish()
}

/// A Terminate.
pub fn terminate() -> Bytes {
    Message::tagged(b'X').finish()
}

/// A CopyData carrying `data`.
pub fn copy_data(data: &[u8]) -> Bytes {
    Message::tagged(b'd').raw(data).finish()
}

/// A CopyDone.
pub fn copy_done() -> Bytes {
    Message::tagged(b'c').finish()
}

/// A CopyFail with the client's reason.
pub fn copy_fail(message: &str) -> Bytes {
    Message::tagged(b'f').cstr(message.as_bytes()).finish()
}

/// A FunctionCall of `function_oid` with text-format arguments and result.
pub fn function_call(function_oid: u32, args: &[Option<&[u8]>]) -> Bytes {
    let mut m = Message::tagged(b'F')
        .u32(function_oid)
        .u16(0)
        .u16(count_u16(args.len()));
    for value in args {
        m = m.nullable(*value);
    }
    m.i16(0).finish()
}

/// A PasswordMessage (cleartext password or md5 hash).
pub fn password(password: &str) -> Bytes {
    Message::tagged(b'p').cstr(password.as_bytes()).finish()
}

/// A SASLInitialResponse choosing `mechanism`, with the first client message (`None` sends -1).
pub fn sasl_initial_response(mechanism: &str, data: Option<&[u8]>) -> Bytes {
    Message::tagged(b'p')
        .cstr(mechanism.as_bytes())
        .nullable(data)
        .finish()
}

/// A SASLResponse (or GSSResponse) carrying `data`.
pub fn sasl_response(data: &[u8]) -> Bytes {
    Message::tagged(b'p').raw(data).finish()
}
