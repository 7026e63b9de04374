//! pgscope's capture format: a recording of client sessions — who connected, every message they
//! sent after authentication with its time, and what the server answered to each statement —
//! that `pgscope replay` plays against another server and compares with.
//!
//! # Shape of the crate
//!
//! Sans-IO at its core, as the rest of pgscope: a codec turns [`Record`]s into
//! bytes and back, [`BlockEncoder`] seals records into compressed blocks, and the two thin IO
//! layers, [`Writer`] and [`Reader`], move blocks to and from a file. The crate knows nothing of
//! sockets, sessions or the proxy; the proxy's capture observer produces [`Record`]s and hands
//! them to a writer thread.
//!
//! # The file (see `FORMAT.md` for the byte-level specification)
//!
//! ```text
//! header  magic "\x89PGSCAP\n", version, fields (redacted flag, start time, capture id,
//!         part number, pgscope version), CRC-32
//! block*  frame_len, CRC-32, one zstd frame holding whole records
//! ```
//!
//! * **Streaming.** Records are written as traffic flows: a block is sealed when 128 KiB of
//!   records are pending or when the writer flushes (pgscope flushes every second), and written
//!   with one `write`.
//! * **Crash-readable.** A block holds whole records only and is independently decodable (its
//!   own zstd frame), so a file cut anywhere is read up to its last complete block; the reader
//!   then reports [`Error::Truncated`] with the offset and the number of records read, which
//!   callers show as a warning, not a failure. A cleanly closed file ends with a
//!   [`Trailer`]; a file without one was not closed (crash, or still being written).
//! * **Checked.** The header and every block carry a CRC-32, and zstd checks each frame's
//!   content: a flipped bit is an [`Error::Corrupt`], a foreign file an [`Error::BadMagic`], a
//!   file from an incompatible pgscope an [`Error::UnsupportedVersion`]. Lengths are checked
//!   before anything is allocated; no input makes the reader panic.
//! * **Versioned and extensible.** [`FORMAT_VERSION`] changes only when old readers could not
//!   read new files. Compatible extensions keep it: new record kinds (readers skip unknown tags
//!   and count them, [`Reader::unknown_skipped`]), new fields appended to a record or to the
//!   header (readers ignore trailing bytes).
//! * **Bounded.** [`WriterOptions::max_bytes`] caps the bytes of all parts;
//!   [`WriterOptions::rotate_bytes`] splits a long capture into parts (`cap.pgcap`,
//!   `cap.1.pgcap`, …; [`parts`] lists them). Files are created new, mode 0600.
//!
//! # Records
//!
//! [`SessionStart`] (id, connect time, database, user, application, other startup parameters,
//! the server's parameters after authentication — never a password or an authentication
//! message), [`FrontendMessage`] (the type byte and body of every message after
//! authentication: Query, Parse, Bind with its parameter values and formats, Describe, Execute,
//! Close, Sync, Flush, CopyData/CopyDone/CopyFail, FunctionCall, Terminate), [`Cancel`],
//! [`StatementOutcome`] (fingerprint, latency, rows, SQLSTATE, batched — the baseline),
//! [`SessionEnd`], [`Dropped`] (records lost because the writer fell behind) and the
//! [`Trailer`]. Times are microseconds since the capture's start.
//!
//! # Redaction
//!
//! [`redact::Redactor`] rewrites Query and Parse texts, Bind and FunctionCall values and COPY
//! data so that no literal survives while types and sizes do (plans stay comparable); its
//! module documentation says what that costs in fidelity.

mod block;
mod codec;
mod error;
mod header;
mod reader;
mod record;
pub mod redact;
mod writer;

#[cfg(test)]
mod tests;

pub use block::{BlockEncoder, BLOCK_HEADER, MAX_RECORD};
pub use error::Error;
pub use header::{FileHeader, FORMAT_VERSION, MAGIC};
pub use reader::{parts, Reader};
pub use record::{
    Cancel, Dropped, EndReason, FrontendMessage, Offset, Protocol, Record, SessionEnd,
    SessionStart, StatementOutcome, Status, Trailer,
};
pub use writer::{part_path, Appended, Summary, Writer, WriterOptions};
