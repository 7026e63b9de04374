//! PostgreSQL v3 wire protocol for pgscope: framing, and typed, zero-copy views of messages.
//!
//! This crate is sans-IO. It never touches a socket and never blocks: the caller reads bytes
//! however it likes, hands them over as [`bytes::Bytes`], and gets messages back. The same code
//! therefore runs in the proxy's pump, in deterministic unit tests and under a fuzzer.
//!
//! # Layers
//!
//! * [`startup`] parses the untagged packets a client sends before authentication
//!   (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) from the front of a `BytesMut`,
//!   in the style of sfackler's `postgres-protocol`: `Ok(None)` until a packet is complete.
//! * [`frame`] splits the tagged stream that follows into messages. A [`Decoder`] peeks the
//!   5-byte header (type byte and length), checks the length against [`Limits`] *before*
//!   allocating or buffering anything, and then either takes the whole message or lets its body go
//!   by. The caller decides, per type byte, which messages it wants.
//! * [`frontend`] and [`backend`] decode what the decoder produced into a typed view, once —
//!   separate types for the two directions, since the same type byte means different things in
//!   each. [`Message::decode`] takes a [`Decoded`]: a kept frame is parsed, a skipped one
//!   becomes its fieldless view (DataRow, Sync, ParseComplete, ...) or `Unread`, so a caller
//!   matches on one enum per direction whatever the decoder kept and never on a type byte. Views borrow from the frame (no copy, no allocation), and only
//!   the fields pgscope records are decoded at all (a DataRow is just its type; an
//!   ErrorResponse's SQLSTATE and severity are picked up by the pass that validates it).
//! * [`encode`] builds complete messages: pgscope's own replies (an ErrorResponse when it must
//!   refuse a client), and the traffic used by tests, benches and fuzz seeds.
//! * [`text`] turns a message's text field into a `str`, replacing what is not UTF-8.
//!
//! # Performance
//!
//! The decoder sees every byte a database sends, so its costs are kept proportional to the
//! messages pgscope looks at, not to the bytes that pass:
//!
//! * a wanted message lying inside one pushed chunk is returned as a `Bytes` slice of that chunk
//!   — a reference-count increment, no copy;
//! * a wanted message spanning chunks is copied once into an accumulator that grows only as its
//!   bytes arrive, so an announced-but-unsent 1 GiB message costs nothing;
//! * an unwanted message (DataRow, CopyData) is never copied or buffered: the decoder counts its
//!   remaining bytes down and drops chunks as they are passed.
//!
//! # Errors
//!
//! Every failure is a [`ProtocolError`] whose `Display` is a sentence fit to show a client. No
//! input makes this crate panic: bodies are read through a bounds-checked reader, and the fuzz
//! targets in `protocol/fuzz` feed arbitrary bytes in arbitrary chunking through every parser.
//! A decoder that has failed stays failed, because after a bad length the stream has no message
//! boundaries left to trust.

pub mod backend;
pub mod encode;
pub mod error;
pub mod frame;
pub mod frontend;
mod read;
pub mod startup;
pub mod tag;
pub mod text;

pub use error::ProtocolError;
pub use frame::{Decoded, Decoder, Frame, Limits, Message};
