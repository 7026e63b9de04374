//! Typed, zero-copy views of the tagged messages a server sends.
//!
//! Every field borrows from the [`Frame`]. A missing field is [`ProtocolError::Malformed`];
//! trailing bytes after the fields pgscope reads are ignored, so a server speaking a later minor
//! protocol version that appends fields is still understood. DataRow and RowDescription are
//! known by their type alone, the COPY responses only as far as their counts.
//!
//! [`Message::decode`] is the one place a server message's type byte becomes its type:
//! the session calls it once per message on what the [`Decoder`](crate::Decoder) produced,
//! whether the body was kept or let go by, and everything downstream matches on the variant.

mod fields;
mod tag;

pub use fields::ErrorFields;
pub use tag::{command_tag, CommandTag};

use crate::read::{split_cstr, Reader};
use crate::{Frame, Message, ProtocolError};

/// A message from the server, borrowing from its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendMessage<'a> {
    /// 'R': a step of the authentication exchange.
    Authentication(Authentication<'a>),
    /// 'K': the process id and secret key needed to cancel queries on this connection.
    BackendKeyData {
        /// The backend's process id.
        pid: u32,
        /// The secret key: 4 bytes in protocol 3.0, up to 256 in 3.2.
        key: &'a [u8],
    },
    /// '2'
    BindComplete,
    /// '3'
    CloseComplete,
    /// '1'
    ParseComplete,
    /// 'n': the described statement or portal returns no rows.
    NoData,
    /// 's': Execute stopped at its row limit.
    PortalSuspended,
    /// 'I': the query string was empty.
    EmptyQueryResponse,
    /// 'c': end of COPY TO STDOUT data.
    CopyDone,
    /// 'C': a statement finished.
    CommandComplete {
        /// The command tag without its NUL, e.g. `INSERT 0 5`.
        tag: &'a [u8],
    },
    /// 'G': the server is ready for COPY FROM STDIN data.
    CopyInResponse {
        /// 0 text, 1 binary.
        format: u8,
        /// Number of columns.
        columns: u16,
    },
    /// 'H': COPY TO STDOUT data follows.
    CopyOutResponse {
        /// 0 text, 1 binary.
        format: u8,
        /// Number of columns.
        columns: u16,
    },
    /// 'W': streaming replication COPY in both directions.
    CopyBothResponse {
        /// 0 text, 1 binary.
        format: u8,
        /// Number of columns.
        columns: u16,
    },
    /// 'd': COPY TO STDOUT data.
    CopyData {
        /// The data, unparsed.
        data: &'a [u8],
    },
    /// 'D': one result row (its values are not decoded: pgscope only counts rows).
    DataRow,
    /// 'E': the current request failed.
    ErrorResponse(ErrorFields<'a>),
    /// 'N': a warning or notice.
    NoticeResponse(ErrorFields<'a>),
    /// 'V': result of a FunctionCall.
    FunctionCallResponse {
        /// The result; `None` for NULL.
        value: Option<&'a [u8]>,
    },
    /// 'v': the server supports only an older minor version or not all `_pq_` options.
    NegotiateProtocolVersion {
        /// Newest minor protocol version the server supports.
        newest_minor: u32,
        /// How many protocol options the server did not recognize.
        unrecognized: u32,
    },
    /// 'A': a LISTEN/NOTIFY notification.
    NotificationResponse {
        /// Process id of the notifying backend.
        pid: u32,
        /// The channel name.
        channel: &'a [u8],
        /// The payload.
        payload: &'a [u8],
    },
    /// 't': parameter types of a described statement.
    ParameterDescription {
        /// Number of parameters.
        params: u16,
    },
    /// 'S': a run-time parameter's value (at startup or after SET).
    ParameterStatus {
        /// The parameter name.
        name: &'a [u8],
        /// Its value.
        value: &'a [u8],
    },
    /// 'Z': the server is idle and ready for a new query.
    ReadyForQuery {
        /// b'I' idle, b'T' in a transaction, b'E' in a failed transaction.
        status: u8,
    },
    /// 'T': the columns of the rows that follow (not decoded).
    RowDescription,
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

/// The body of an 'R' message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication<'a> {
    /// Code 0: authentication succeeded.
    Ok,
    /// Code 2.
    KerberosV5,
    /// Code 3: send the password in clear text.
    CleartextPassword,
    /// Code 5: send an md5 hash salted with `salt`.
    Md5Password {
        /// The salt.
        salt: [u8; 4],
    },
    /// Code 7: start GSSAPI.
    Gss,
    /// Code 8: GSSAPI or SSPI continuation.
    GssContinue {
        /// The mechanism data.
        data: &'a [u8],
    },
    /// Code 9: start SSPI.
    Sspi,
    /// Code 10: start SASL.
    Sasl {
        /// The raw list: each mechanism name NUL-terminated, then a final NUL. Iterate it with
        /// [`Authentication::mechanisms`].
        mechanisms: &'a [u8],
    },
    /// Code 11: a SASL challenge.
    SaslContinue {
        /// The mechanism data.
        data: &'a [u8],
    },
    /// Code 12: SASL outcome data.
    SaslFinal {
        /// The mechanism data.
        data: &'a [u8],
    },
}

impl<'a> Authentication<'a> {
    /// The SASL mechanisms the server offers (`SCRAM-SHA-256`, ...); empty unless `Sasl`.
    pub fn mechanisms(&self) -> impl Iterator<Item = &'a [u8]> {
        let mut rest: &'a [u8] = match self {
            Authentication::Sasl { mechanisms } => mechanisms,
            _ => &[],
        };
        std::iter::from_fn(move || {
            let (name, after) = split_cstr(rest)?;
            rest = after;
            (!name.is_empty()).then_some(name)
        })
    }
}

impl<'a> Message<'a> for BackendMessage<'a> {
    #[inline]
    fn parse_frame(frame: &'a Frame) -> Result<Self, ProtocolError> {
        Self::parse(frame)
    }

    #[inline]
    fn unread(tag: u8, len: u32) -> Self {
        match tag {
            b'D' => BackendMessage::DataRow,
            b'T' => BackendMessage::RowDescription,
            b'1' => BackendMessage::ParseComplete,
            b'2' => BackendMessage::BindComplete,
            b'3' => BackendMessage::CloseComplete,
            b'n' => BackendMessage::NoData,
            b's' => BackendMessage::PortalSuspended,
            b'I' => BackendMessage::EmptyQueryResponse,
            b'c' => BackendMessage::CopyDone,
            tag => BackendMessage::Unread { tag, len },
        }
    }
}

impl<'a> BackendMessage<'a> {
    /// Decodes `frame` as a server message.
    pub fn parse(frame: &'a Frame) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(frame.tag, frame.body());
        Ok(match frame.tag {
            b'R' => BackendMessage::Authentication(authentication(&mut r)?),
            b'K' => {
                let pid = r.u32("process id is missing")?;
                let key = r.rest();
                if key.is_empty() {
                    return Err(r.error("cancel key is missing"));
                }
                BackendMessage::BackendKeyData { pid, key }
            }
            b'2' => BackendMessage::BindComplete,
            b'3' => BackendMessage::CloseComplete,
            b'1' => BackendMessage::ParseComplete,
            b'n' => BackendMessage::NoData,
            b's' => BackendMessage::PortalSuspended,
            b'I' => BackendMessage::EmptyQueryResponse,
            b'c' => BackendMessage::CopyDone,
            b'C' => BackendMessage::CommandComplete {
                tag: r.cstr("command tag has no NUL terminator")?,
            },
            b'G' => {
                let (format, columns) = copy_response(&mut r)?;
                BackendMessage::CopyInResponse { format, columns }
            }
            b'H' => {
                let (format, columns) = copy_response(&mut r)?;
                BackendMessage::CopyOutResponse { format, columns }
            }
            b'W' => {
                let (format, columns) = copy_response(&mut r)?;
                BackendMessage::CopyBothResponse { format, columns }
            }
            b'd' => BackendMessage::CopyData { data: r.rest() },
            b'D' => {
                r.u16("column count is missing")?;
                BackendMessage::DataRow
            }
            b'E' => BackendMessage::ErrorResponse(ErrorFields::parse(&mut r)?),
            b'N' => BackendMessage::NoticeResponse(ErrorFields::parse(&mut r)?),
            b'V' => BackendMessage::FunctionCallResponse {
                value: r.nullable_bytes("result length does not match its data")?,
            },
            b'v' => {
                let newest_minor = r.u32("newest minor version is missing")?;
                let unrecognized = r.u32("option count is missing")?;
                for _ in 0..unrecognized {
                    r.cstr("unrecognized option name has no NUL terminator")?;
                }
                BackendMessage::NegotiateProtocolVersion {
                    newest_minor,
                    unrecognized,
                }
            }
            b'A' => BackendMessage::NotificationResponse {
                pid: r.u32("process id is missing")?,
                channel: r.cstr("channel name has no NUL terminator")?,
                payload: r.cstr("payload has no NUL terminator")?,
            },
            b't' => {
                let params = r.u16("parameter count is missing")?;
                r.bytes(usize::from(params) * 4, "parameter type list is short")?;
                BackendMessage::ParameterDescription { params }
            }
            b'S' => BackendMessage::ParameterStatus {
                name: r.cstr("parameter name has no NUL terminator")?,
                value: r.cstr("parameter value has no NUL terminator")?,
            },
            b'Z' => match r.u8("transaction status is missing")? {
                status @ (b'I' | b'T' | b'E') => BackendMessage::ReadyForQuery { status },
                _ => return Err(r.error("transaction status is not 'I', 'T' or 'E'")),
            },
            b'T' => {
                r.u16("field count is missing")?;
                BackendMessage::RowDescription
            }
            tag => BackendMessage::Unknown {
                tag,
                body: r.rest(),
            },
        })
    }
}

fn authentication<'a>(r: &mut Reader<'a>) -> Result<Authentication<'a>, ProtocolError> {
    Ok(match r.u32("authentication code is missing")? {
        0 => Authentication::Ok,
        2 => Authentication::KerberosV5,
        3 => Authentication::CleartextPassword,
        5 => Authentication::Md5Password {
            salt: r.array("md5 salt is short")?,
        },
        7 => Authentication::Gss,
        8 => Authentication::GssContinue { data: r.rest() },
        9 => Authentication::Sspi,
        10 => {
            let mechanisms = r.rest();
            let mut list = Reader::new(b'R', mechanisms);
            while !list
                .cstr("SASL mechanism list is not NUL-terminated")?
                .is_empty()
            {}
            Authentication::Sasl { mechanisms }
        }
        11 => Authentication::SaslContinue { data: r.rest() },
        12 => Authentication::SaslFinal { data: r.rest() },
        _ => return Err(r.error("unknown authentication request code")),
    })
}

/// The overall format and column count of CopyIn/CopyOut/CopyBothResponse.
fn copy_response(r: &mut Reader<'_>) -> Result<(u8, u16), ProtocolError> {
    let format = r.u8("copy format is missing")?;
    let columns = r.u16("column count is missing")?;
    r.bytes(usize::from(columns) * 2, "column format list is short")?;
    Ok((format, columns))
}
