//! The untagged startup phase, sent by the client only: StartupMessage, SSLRequest,
//! GSSENCRequest and CancelRequest. Each packet is a 4-byte length (counting itself) and a 4-byte
//! code, then a body whose layout the code decides.

use bytes::{Bytes, BytesMut};

use crate::read::{split_cstr, Reader};
use crate::{Limits, ProtocolError};

/// The code of an SSLRequest (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: u32 = 80877103;
/// The code of a GSSENCRequest (1234 << 16 | 5680).
pub const GSSENC_REQUEST_CODE: u32 = 80877104;
/// The code of a CancelRequest (1234 << 16 | 5678).
pub const CANCEL_REQUEST_CODE: u32 = 80877102;
/// The longest cancel key the protocol allows (3.2; 3.0 keys are always 4 bytes).
pub const MAX_CANCEL_KEY_LEN: usize = 256;

/// Length field plus code: the smallest startup packet.
const PREFIX_LEN: usize = 8;
/// The `tag` used in errors about startup packets, which have none.
const STARTUP_TAG: u8 = 0;

/// One startup-phase packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    /// A StartupMessage: protocol version 3.x and connection parameters.
    Startup(StartupMessage),
    /// A request to switch to TLS; answered with a single byte `S` or `N`.
    SslRequest,
    /// A request to switch to GSSAPI encryption; answered with a single byte `G` or `N`.
    GssEncRequest,
    /// A request to cancel the query running on another connection.
    Cancel(CancelRequest),
}

/// A validated StartupMessage, decoded on access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupMessage {
    /// The whole packet; its parameter list has been validated.
    packet: Bytes,
}

impl StartupMessage {
    /// The requested protocol version as (major, minor): (3, 0), (3, 2), ...
    pub fn version(&self) -> (u16, u16) {
        match self.packet.get(4..PREFIX_LEN) {
            Some(&[a, b, c, d]) => (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
            _ => (0, 0),
        }
    }

    /// The connection parameters (`user`, `database`, `options`, `_pq_.*`, ...) in order.
    pub fn params(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = self.packet.get(PREFIX_LEN..).unwrap_or_default();
        std::iter::from_fn(move || {
            let (name, after_name) = split_cstr(rest)?;
            if name.is_empty() {
                return None;
            }
            let (value, after_value) = split_cstr(after_name)?;
            rest = after_value;
            Some((name, value))
        })
    }

    /// The value of parameter `name`, if the client sent it.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The whole packet as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.packet
    }
}

/// A CancelRequest: the target backend's process id and secret key, as the server issued them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// The process id from BackendKeyData.
    pub pid: u32,
    /// The secret key: 4 bytes in protocol 3.0, up to 256 in 3.2. Never assume its length.
    pub key: Bytes,
}

/// Parses one startup-phase packet from the front of `buf`.
///
/// Returns `Ok(None)` when the packet is incomplete (after reserving room for the rest, once its
/// length has been checked). On success the packet's bytes are removed from `buf` and returned
/// too, exactly as received, so they can be forwarded unchanged.
pub fn parse_startup(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<(StartupPacket, Bytes)>, ProtocolError> {
    let Some(&[a, b, c, d]) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if len < PREFIX_LEN as u32 {
        return Err(ProtocolError::BadStartupLength { len });
    }
    if len > limits.max_startup_len {
        return Err(ProtocolError::StartupTooLong {
            len,
            max: limits.max_startup_len,
        });
    }
    let len = len as usize;
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    let packet = buf.split_to(len).freeze();
    let parsed = decode(&packet)?;
    Ok(Some((parsed, packet)))
}

/// Decodes a complete packet whose length field has been checked.
fn decode(packet: &Bytes) -> Result<StartupPacket, ProtocolError> {
    let mut r = Reader::new(STARTUP_TAG, packet.get(4..).unwrap_or_default());
    let code = r.u32("missing protocol code")?;
    match code {
        SSL_REQUEST_CODE => {
            r.finish("SSLRequest has a body")?;
            Ok(StartupPacket::SslRequest)
        }
        GSSENC_REQUEST_CODE => {
            r.finish("GSSENCRequest has a body")?;
            Ok(StartupPacket::GssEncRequest)
        }
        CANCEL_REQUEST_CODE => {
            let pid = r.u32("CancelRequest without process id")?;
            let key_len = r.rest().len();
            if key_len == 0 || key_len > MAX_CANCEL_KEY_LEN {
                return Err(r.error("CancelRequest key must be 1 to 256 bytes"));
            }
            let key = packet.slice(packet.len() - key_len..);
            Ok(StartupPacket::Cancel(CancelRequest { pid, key }))
        }
        code if code >> 16 == 3 => {
            validate_params(r)?;
            Ok(StartupPacket::Startup(StartupMessage {
                packet: packet.clone(),
            }))
        }
        code => Err(ProtocolError::UnknownStartupCode { code }),
    }
}

/// Checks the parameter list: NUL-terminated name/value pairs, then a single final NUL.
fn validate_params(mut r: Reader<'_>) -> Result<(), ProtocolError> {
    loop {
        let name = r.cstr("parameter list lacks its final NUL")?;
        if name.is_empty() {
            return r.finish("bytes after the parameter list's final NUL");
        }
        r.cstr("parameter has no NUL-terminated value")?;
    }
}
