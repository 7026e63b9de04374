//! Typed, zero-copy views of the tagged messages a client sends.
//!
//! Every field borrows from the [`Frame`]. Bodies are validated as PostgreSQL's own
//! `pq_getmsgend` does: a missing field and trailing bytes are both [`ProtocolError::Malformed`].
//! Bind and FunctionCall are decoded only as far as pgscope needs (names, function OID).
//!
//! [`Message::decode`] is the one place a client message's type byte becomes its type:
//! the session calls it once per message on what the [`Decoder`](crate::Decoder) produced,
//! whether the body was kept or let go by, and everything downstream matches on the variant.

use crate::read::Reader;
use crate::{Frame, Message, ProtocolError};

/// A message from the client, borrowing from its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontendMessage<'a> {
    /// 'Q': a simple query, possibly several statements.
    Query {
        /// The query text, without its NUL.
        sql: &'a [u8],
    },
    /// 'P': prepare a statement.
    Parse {
        /// Statement name; empty for the unnamed statement.
        name: &'a [u8],
        /// The query text.
        sql: &'a [u8],
        /// How many parameter types the client specified.
        param_types: u16,
    },
    /// 'B': bind parameters to a statement, creating a portal.
    Bind {
        /// Portal name; empty for the unnamed portal.
        portal: &'a [u8],
        /// Source statement name; empty for the unnamed statement.
        statement: &'a [u8],
    },
    /// 'E': run a portal.
    Execute {
        /// Portal name.
        portal: &'a [u8],
        /// Row limit; 0 means no limit.
        max_rows: i32,
    },
    /// 'D': describe a statement (`kind` b'S') or a portal (b'P').
    Describe {
        /// b'S' or b'P'.
        kind: u8,
        /// The statement or portal name.
        name: &'a [u8],
    },
    /// 'C': close a statement (`kind` b'S') or a portal (b'P').
    Close {
        /// b'S' or b'P'.
        kind: u8,
        /// The statement or portal name.
        name: &'a [u8],
    },
    /// 'S': end of an extended-protocol batch.
    Sync,
    /// 'H': ask the server to flush its output.
    Flush,
    /// 'X': the client is closing the connection.
    Terminate,
    /// 'd': COPY FROM STDIN data.
    CopyData {
        /// The data, unparsed.
        data: &'a [u8],
    },
    /// 'c': end of COPY FROM STDIN data.
    CopyDone,
    /// 'f': abort COPY FROM STDIN.
    CopyFail {
        /// The client's reason.
        message: &'a [u8],
    },
    /// 'F': call a function by OID (arguments are not decoded).
    FunctionCall {
        /// The function's OID.
        function_oid: u32,
    },
    /// 'p': PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse. Which one depends
    /// on the authentication exchange; decode further with [`parse_password`] or
    /// [`parse_sasl_initial_response`].
    AuthResponse {
        /// The body, unparsed.
        data: &'a [u8],
    },
    /// Any other type byte.
    Unknown {
        /// The type byte.
        tag: u8,
        /// The body, unparsed.
        body: &'a [u8],
    },
    /// A message whose body the [`Decoder`](crate::Decoder) let go by unread, of a type whose
    /// view has fields (see [`Message::decode`]): only its type and length are known.
    Unread {
        /// The type byte.
        tag: u8,
        /// The length field.
        len: u32,
    },
}

impl<'a> Message<'a> for FrontendMessage<'a> {
    #[inline]
    fn parse_frame(frame: &'a Frame) -> Result<Self, ProtocolError> {
        Self::parse(frame)
    }

    #[inline]
    fn unread(tag: u8, len: u32) -> Self {
        match tag {
            b'S' => FrontendMessage::Sync,
            b'H' => FrontendMessage::Flush,
            b'X' => FrontendMessage::Terminate,
            b'c' => FrontendMessage::CopyDone,
            tag => FrontendMessage::Unread { tag, len },
        }
    }
}

impl<'a> FrontendMessage<'a> {
    /// Decodes `frame` as a client message.
    pub fn parse(frame: &'a Frame) -> Result<Self, ProtocolError> {
        Self::parse_body(frame.tag, frame.body())
    }

    /// Decodes a client message of type `tag` from its body (the bytes after the type byte and
    /// the length field), as kept apart from its header by a capture.
    pub fn parse_body(tag: u8, body: &'a [u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(tag, body);
        let msg = match tag {
            b'Q' => FrontendMessage::Query {
                sql: r.cstr("query string has no NUL terminator")?,
            },
            b'P' => {
                let name = r.cstr("statement name has no NUL terminator")?;
                let sql = r.cstr("query string has no NUL terminator")?;
                let param_types = r.u16("parameter type count is missing")?;
                r.bytes(usize::from(param_types) * 4, "parameter type list is short")?;
                FrontendMessage::Parse {
                    name,
                    sql,
                    param_types,
                }
            }
            b'B' => {
                let portal = r.cstr("portal name has no NUL terminator")?;
                let statement = r.cstr("statement name has no NUL terminator")?;
                r.rest();
                FrontendMessage::Bind { portal, statement }
            }
            b'E' => FrontendMessage::Execute {
                portal: r.cstr("portal name has no NUL terminator")?,
                max_rows: r.i32("row limit is missing")?,
            },
            b'D' => {
                let (kind, name) = target(&mut r)?;
                FrontendMessage::Describe { kind, name }
            }
            b'C' => {
                let (kind, name) = target(&mut r)?;
                FrontendMessage::Close { kind, name }
            }
            b'S' => FrontendMessage::Sync,
            b'H' => FrontendMessage::Flush,
            b'X' => FrontendMessage::Terminate,
            b'c' => FrontendMessage::CopyDone,
            b'd' => FrontendMessage::CopyData { data: r.rest() },
            b'f' => FrontendMessage::CopyFail {
                message: r.cstr("error message has no NUL terminator")?,
            },
            b'F' => {
                let function_oid = r.u32("function OID is missing")?;
                r.rest();
                FrontendMessage::FunctionCall { function_oid }
            }
            b'p' => FrontendMessage::AuthResponse { data: r.rest() },
            tag => FrontendMessage::Unknown {
                tag,
                body: r.rest(),
            },
        };
        r.finish("unexpected bytes after the last field")?;
        Ok(msg)
    }
}

/// The kind byte (b'S' statement or b'P' portal) and name of Describe and Close.
fn target<'a>(r: &mut Reader<'a>) -> Result<(u8, &'a [u8]), ProtocolError> {
    let kind = r.u8("target kind is missing")?;
    if kind != b'S' && kind != b'P' {
        return Err(r.error("target kind is neither 'S' nor 'P'"));
    }
    let name = r.cstr("target name has no NUL terminator")?;
    Ok((kind, name))
}

/// A SASLInitialResponse: the chosen mechanism and the client's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslInitialResponse<'a> {
    /// The mechanism name, e.g. `SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS`.
    pub mechanism: &'a [u8],
    /// The mechanism's initial response; `None` when the client sent length -1.
    pub data: Option<&'a [u8]>,
}

/// Decodes the body of a 'p' message sent in answer to AuthenticationSASL.
pub fn parse_sasl_initial_response(data: &[u8]) -> Result<SaslInitialResponse<'_>, ProtocolError> {
    let mut r = Reader::new(b'p', data);
    let mechanism = r.cstr("SASL mechanism name has no NUL terminator")?;
    let data = r.nullable_bytes("SASL initial response length does not match its data")?;
    r.finish("unexpected bytes after the SASL initial response")?;
    Ok(SaslInitialResponse { mechanism, data })
}

/// Decodes the body of a 'p' message sent in answer to a password request: the password
/// (cleartext or md5 hash), without its NUL.
pub fn parse_password(data: &[u8]) -> Result<&[u8], ProtocolError> {
    let mut r = Reader::new(b'p', data);
    let password = r.cstr("password has no NUL terminator")?;
    r.finish("unexpected bytes after the password")?;
    Ok(password)
}
