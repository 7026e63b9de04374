//! Streaming framing of tagged (post-startup) messages: [`Decoder`] turns socket reads into
//! [`Frame`]s without copying when it can, and skips the bodies nobody wants without buffering.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::ProtocolError;

/// Size of a tagged message header: the type byte and the 4-byte length.
pub const HEADER_LEN: usize = 5;

/// Upper bounds on lengths announced by the peer, checked before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted length field of a tagged message (it counts itself, not the tag byte).
    pub max_message_len: u32,
    /// Largest accepted length field of a startup-phase packet.
    pub max_startup_len: u32,
}

impl Default for Limits {
    /// PostgreSQL's own limits: 1 GiB per message (`PQ_LARGE_MESSAGE_LIMIT`) and 10 000 bytes
    /// per startup packet (`MAX_STARTUP_PACKET_LENGTH`).
    fn default() -> Self {
        Limits {
            max_message_len: 0x4000_0000,
            max_startup_len: 10_000,
        }
    }
}

/// One complete tagged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message's type byte (`bytes[0]`).
    pub tag: u8,
    /// The whole message as it was on the wire: type byte, 4-byte length, body.
    pub bytes: Bytes,
}

impl Frame {
    /// The body: everything after the 5-byte header (empty if `bytes` is shorter than that).
    pub fn body(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The length field (body length + 4), or 0 if `bytes` holds no complete header.
    pub fn len_field(&self) -> u32 {
        match self.bytes.get(1..HEADER_LEN) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }
}

/// What [`Decoder::next`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message whose type the decoder was asked to keep, complete.
    Frame(Frame),
    /// A message whose body went by without being buffered; reported once it has fully passed.
    Skipped {
        /// The message's type byte.
        tag: u8,
        /// Its length field (the message occupied `len + 1` bytes of the stream).
        len: u32,
    },
}

/// A direction's typed view of a message: [`FrontendMessage`](crate::frontend::FrontendMessage)
/// or [`BackendMessage`](crate::backend::BackendMessage).
///
/// [`Message::decode`] is the one place a message's type byte becomes its type, whether the
/// [`Decoder`] kept its body or let it go by: callers match on the view, never on a type byte.
pub trait Message<'a>: Sized {
    /// Decodes a kept frame (the view's own `parse`).
    fn parse_frame(frame: &'a Frame) -> Result<Self, ProtocolError>;

    /// The view of a message of type `tag` whose body went by unread: the fieldless variant of
    /// that type (DataRow, Sync, ParseComplete, ...) when it has one, else the view's `Unread`.
    fn unread(tag: u8, len: u32) -> Self;

    /// Decodes what the [`Decoder`] produced, once: a kept frame is parsed, a skipped one is
    /// known by its type byte alone ([`Message::unread`]). The view borrows from the frame:
    /// nothing is copied or allocated.
    #[inline]
    fn decode(decoded: &'a Decoded) -> Result<Self, ProtocolError> {
        match decoded {
            Decoded::Frame(frame) => Self::parse_frame(frame),
            Decoded::Skipped { tag, len } => Ok(Self::unread(*tag, *len)),
        }
    }
}

/// Where the decoder stands inside the current message.
#[derive(Debug)]
enum State {
    /// Between messages: waiting for a complete 5-byte header.
    Header,
    /// A wanted message that spans chunks, being copied into `acc` until it holds `total` bytes.
    Body {
        tag: u8,
        total: usize,
        acc: BytesMut,
    },
    /// An unwanted message whose body has `remaining` bytes still to go by.
    Skip { tag: u8, len: u32, remaining: usize },
}

/// Streaming decoder of tagged (post-startup) messages for one direction.
///
/// Feed it with [`push`](Decoder::push) and drain it with [`next`](Decoder::next). A wanted
/// message that lies inside one pushed chunk comes back as a slice of that chunk (no copy); one
/// that spans chunks is copied once into an accumulator; an unwanted body is never copied, only
/// counted down.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    wants_body: fn(u8) -> bool,
    /// Pushed bytes not yet consumed; never holds an empty chunk.
    chunks: VecDeque<Bytes>,
    /// Total length of `chunks`.
    buffered: usize,
    state: State,
    /// The first error, returned again by every later call.
    error: Option<ProtocolError>,
}

impl Decoder {
    /// `wants_body(tag)` says which message types are buffered whole and returned as
    /// [`Decoded::Frame`]; every other type's body is skipped without buffering or copying and
    /// reported once, when its last byte has gone by, as [`Decoded::Skipped`].
    pub fn new(limits: Limits, wants_body: fn(u8) -> bool) -> Self {
        Decoder {
            limits,
            wants_body,
            chunks: VecDeque::with_capacity(4),
            buffered: 0,
            state: State::Header,
            error: None,
        }
    }

    /// Changes which message types are buffered whole (see [`Decoder::new`]); takes effect at
    /// the next message header (a message already under way keeps its treatment).
    pub fn set_wants_body(&mut self, wants_body: fn(u8) -> bool) {
        self.wants_body = wants_body;
    }

    /// Appends the next chunk read from the socket. Cheap: the chunk is kept, not copied. After
    /// an error the chunk is dropped, since the stream can no longer be decoded.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() || self.error.is_some() {
            return;
        }
        self.buffered += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// Length checks happen on the 5-byte header before anything is allocated or buffered; once
    /// an error has been returned the decoder keeps returning it.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Decoded>, ProtocolError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.step() {
            Ok(decoded) => Ok(decoded),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Records the first error: it is returned again by every later call, and the pending
    /// bytes, which can no longer be framed, are dropped.
    #[cold]
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.error = Some(e.clone());
        self.chunks.clear();
        self.buffered = 0;
        e
    }

    /// True when no partial message is pending (every pushed byte belongs to a returned message).
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header) && self.buffered == 0
    }

    /// Bytes pushed but not yet consumed by a returned or skipped message.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    #[inline]
    fn step(&mut self) -> Result<Option<Decoded>, ProtocolError> {
        match self.state {
            State::Header => self.start_message(),
            State::Skip {
                tag,
                len,
                remaining,
            } => {
                self.state = State::Header;
                Ok(self.skip(tag, len, remaining))
            }
            State::Body { .. } => Ok(self.resume_body()),
        }
    }

    /// Continues copying a wanted message that spans chunks.
    fn resume_body(&mut self) -> Option<Decoded> {
        match std::mem::replace(&mut self.state, State::Header) {
            State::Body { tag, total, acc } => self.fill(tag, total, acc),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Reads and checks a header, then takes, starts copying or starts skipping the message.
    #[inline]
    fn start_message(&mut self) -> Result<Option<Decoded>, ProtocolError> {
        let Some([tag, l0, l1, l2, l3]) = self.peek_header() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        if len < 4 {
            return Err(ProtocolError::BadLength { tag, len });
        }
        if len > self.limits.max_message_len {
            return Err(ProtocolError::MessageTooLong {
                tag,
                len,
                max: self.limits.max_message_len,
            });
        }
        // u32 → usize is lossless on every platform this crate supports (32 and 64 bit).
        let body_len = len as usize - 4;
        let total = HEADER_LEN + body_len;
        let wanted = (self.wants_body)(tag);
        if let Some(front) = self.chunks.front_mut() {
            if front.len() >= total {
                // The whole message is in the front chunk: slice it or step over it.
                let decoded = if wanted {
                    Decoded::Frame(Frame {
                        tag,
                        bytes: front.split_to(total),
                    })
                } else {
                    front.advance(total);
                    Decoded::Skipped { tag, len }
                };
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                self.buffered -= total;
                return Ok(Some(decoded));
            }
        }
        if wanted {
            Ok(self.fill(tag, total, BytesMut::new()))
        } else {
            self.consume(HEADER_LEN);
            Ok(self.skip(tag, len, body_len))
        }
    }

    /// The header at the front of the pending bytes, possibly split over several chunks.
    fn peek_header(&self) -> Option<[u8; HEADER_LEN]> {
        let front = self.chunks.front()?;
        if let Some(header) = front.first_chunk::<HEADER_LEN>() {
            return Some(*header);
        }
        if self.buffered < HEADER_LEN {
            return None;
        }
        let mut header = [0u8; HEADER_LEN];
        for (slot, byte) in header
            .iter_mut()
            .zip(self.chunks.iter().flat_map(|c| c.iter()))
        {
            *slot = *byte;
        }
        Some(header)
    }

    /// Drops `n` bytes (at most what is buffered) from the front of the pending chunks.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.buffered -= k;
            n -= k;
        }
    }

    /// Lets up to `remaining` body bytes of a skipped message go by.
    fn skip(&mut self, tag: u8, len: u32, remaining: usize) -> Option<Decoded> {
        let k = remaining.min(self.buffered);
        self.consume(k);
        if k == remaining {
            Some(Decoded::Skipped { tag, len })
        } else {
            self.state = State::Skip {
                tag,
                len,
                remaining: remaining - k,
            };
            None
        }
    }

    /// Copies pending bytes into `acc` until it holds the whole `total`-byte message.
    fn fill(&mut self, tag: u8, total: usize, mut acc: BytesMut) -> Option<Decoded> {
        // Reserve only what has arrived: a huge announced length costs nothing until sent.
        acc.reserve((total - acc.len()).min(self.buffered));
        while acc.len() < total {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = (total - acc.len()).min(front.len());
            acc.extend_from_slice(front.get(..k).unwrap_or_default());
            front.advance(k);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.buffered -= k;
        }
        if acc.len() == total {
            Some(Decoded::Frame(Frame {
                tag,
                bytes: acc.freeze(),
            }))
        } else {
            self.state = State::Body { tag, total, acc };
            None
        }
    }
}
