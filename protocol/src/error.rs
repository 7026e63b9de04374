//! The one error type of the crate.
//!
//! Every variant carries only `Copy` data (no allocation on the error path), and every `Display`
//! text is a complete sentence a person can read: pgscope shows these to clients inside an
//! ErrorResponse when it has to refuse their traffic.

use std::fmt;

/// Why a byte stream or a message body could not be decoded.
///
/// A `tag` of `0` stands for the untagged startup-phase packet (StartupMessage, SSLRequest,
/// GSSENCRequest, CancelRequest): no tagged message uses that byte.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The length field of a tagged message is over [`Limits::max_message_len`](crate::Limits).
    #[error("{} has length {len}, over the maximum {max}", subject(.tag))]
    MessageTooLong {
        /// The message's type byte.
        tag: u8,
        /// The length field as received (it counts itself but not the tag).
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The length field of a tagged message is below 4, the size of the field itself.
    #[error("{} has length {len}, below the minimum 4", subject(.tag))]
    BadLength {
        /// The message's type byte.
        tag: u8,
        /// The length field as received.
        len: u32,
    },
    /// The length field of a startup-phase packet is over
    /// [`Limits::max_startup_len`](crate::Limits).
    #[error("startup packet has length {len}, over the maximum {max}")]
    StartupTooLong {
        /// The length field as received (it counts itself).
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The length field of a startup-phase packet is below 8 (length plus protocol code).
    #[error("startup packet has length {len}, below the minimum 8")]
    BadStartupLength {
        /// The length field as received.
        len: u32,
    },
    /// The startup packet's code is neither protocol version 3.x nor a known special request.
    #[error(
        "startup packet requests unsupported protocol {}.{} (code {code}); only 3.x is supported",
        code >> 16,
        code & 0xffff
    )]
    UnknownStartupCode {
        /// The 32-bit code that follows the length.
        code: u32,
    },
    /// The body of a message does not follow the layout its type requires.
    #[error("{} is malformed: {what}", subject(.tag))]
    Malformed {
        /// The message's type byte (`0` for a startup-phase packet).
        tag: u8,
        /// What was wrong, e.g. "missing NUL terminator in query string".
        what: &'static str,
    },
}

/// How an error names the message it is about.
struct Subject(u8);

fn subject(tag: &u8) -> Subject {
    Subject(*tag)
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("startup packet"),
            t if t.is_ascii_graphic() => write!(f, "message '{}'", char::from(t)),
            t => write!(f, "message with type byte 0x{t:02x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolError;

    #[test]
    fn too_long_names_tag_length_and_maximum() {
        let e = ProtocolError::MessageTooLong {
            tag: b'Q',
            len: 2_000_000,
            max: 1_048_576,
        };
        assert_eq!(
            e.to_string(),
            "message 'Q' has length 2000000, over the maximum 1048576"
        );
    }

    #[test]
    fn malformed_startup_is_named_startup_packet() {
        let e = ProtocolError::Malformed {
            tag: 0,
            what: "missing final NUL",
        };
        assert_eq!(
            e.to_string(),
            "startup packet is malformed: missing final NUL"
        );
    }

    #[test]
    fn unprintable_tag_is_shown_in_hex() {
        let e = ProtocolError::BadLength { tag: 0x01, len: 2 };
        assert_eq!(
            e.to_string(),
            "message with type byte 0x01 has length 2, below the minimum 4"
        );
    }

    #[test]
    fn unknown_code_shows_version_pair() {
        let e = ProtocolError::UnknownStartupCode { code: 2 << 16 };
        assert_eq!(
            e.to_string(),
            "startup packet requests unsupported protocol 2.0 (code 131072); only 3.x is supported"
        );
    }
}
