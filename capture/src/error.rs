//! The one error type of the crate: everything a reader or writer can meet, each with a message
//! a user can act on.

use std::io;

/// What went wrong reading or writing a capture file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system gave no random key for redaction.
    #[error("no random key for redaction from the operating system: {0}")]
    NoRandomKey(String),
    /// The file does not start with the capture magic: it is not a pgscope capture.
    #[error("not a pgscope capture file (the first 8 bytes are not the capture magic)")]
    BadMagic,
    /// The file is a capture of a format version this build does not read.
    #[error(
        "capture format version {found} is not supported (this pgscope reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// The file ends inside its header: nothing in it can be read.
    #[error("capture file truncated inside its header ({0} bytes)")]
    TruncatedHeader(u64),
    /// The file ends inside a block: every record before `offset` was read; the block that starts
    /// there is incomplete (the process that wrote it stopped mid-write, or the file was cut).
    #[error(
        "capture file truncated: the block at byte {offset} is incomplete ({have} of {need} bytes); \
         the {records} records before it were read"
    )]
    Truncated {
        /// File offset of the incomplete block.
        offset: u64,
        /// Bytes of the block present in the file (header included).
        have: u64,
        /// Bytes the block's header announces (header included).
        need: u64,
        /// Records read before it.
        records: u64,
    },
    /// Bytes that were written are not what the format allows: a checksum mismatch, a bad zstd
    /// frame, a record that does not parse.
    #[error("capture file corrupt at byte {offset}: {what}")]
    Corrupt {
        /// File offset of the block (or header) that is corrupt.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A record is larger than the format allows.
    #[error("record of {0} bytes exceeds the format's limit of {max} bytes", max = crate::block::MAX_RECORD)]
    RecordTooLarge(usize),
    /// Reading or writing the file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (includes the path when known).
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Whether this error only says that the data ends early (everything before it was read and
    /// is sound): a crash or a copy in progress, not corruption.
    pub fn is_truncation(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt {
            offset,
            what: what.into(),
        }
    }
}
