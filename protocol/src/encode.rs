//! Builders of complete wire messages, returned as [`Bytes`](bytes::Bytes).
//!
//! pgscope uses them for its own replies to clients ([`backend::error_response`]); tests,
//! benches and fuzz seeds use them to produce traffic. [`frontend`] builds what a client sends,
//! [`backend`] what a server sends.
//!
//! Strings are written NUL-terminated; an interior NUL byte, which the wire format cannot carry,
//! is dropped rather than allowed to shift the following fields.

pub mod backend;
pub mod frontend;

use bytes::{BufMut, Bytes, BytesMut};

/// Incrementally writes one message and patches its length field when finished.
pub(crate) struct Message {
    buf: BytesMut,
    /// Where the length field starts (0 for untagged startup packets, 1 otherwise).
    len_at: usize,
}

impl Message {
    /// Starts a tagged message of type `tag`.
    pub(crate) fn tagged(tag: u8) -> Self {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_u8(tag);
        buf.put_u32(0);
        Message { buf, len_at: 1 }
    }

    /// Starts an untagged startup-phase packet.
    pub(crate) fn untagged() -> Self {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_u32(0);
        Message { buf, len_at: 0 }
    }

    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.buf.put_u8(v);
        self
    }

    pub(crate) fn i16(mut self, v: i16) -> Self {
        self.buf.put_i16(v);
        self
    }

    pub(crate) fn u16(mut self, v: u16) -> Self {
        self.buf.put_u16(v);
        self
    }

    pub(crate) fn i32(mut self, v: i32) -> Self {
        self.buf.put_i32(v);
        self
    }

    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.buf.put_u32(v);
        self
    }

    pub(crate) fn raw(mut self, v: &[u8]) -> Self {
        self.buf.put_slice(v);
        self
    }

    /// A NUL-terminated string; interior NULs are dropped.
    pub(crate) fn cstr(mut self, v: &[u8]) -> Self {
        for part in v.split(|&b| b == 0) {
            self.buf.put_slice(part);
        }
        self.buf.put_u8(0);
        self
    }

    /// An `Int32` length then the bytes, or length -1 for `None`.
    pub(crate) fn nullable(self, v: Option<&[u8]>) -> Self {
        match v {
            None => self.i32(-1),
            Some(v) => self.i32(len_i32(v.len())).raw(v),
        }
    }

    /// Patches the length field and returns the message.
    pub(crate) fn finish(mut self) -> Bytes {
        let len = u32::try_from(self.buf.len() - self.len_at).unwrap_or(u32::MAX);
        if let Some(field) = self.buf.get_mut(self.len_at..self.len_at + 4) {
            field.copy_from_slice(&len.to_be_bytes());
        }
        self.buf.freeze()
    }
}

/// A count or length as the protocol's `Int32`, saturating (such inputs are not sendable anyway).
pub(crate) fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A count as the protocol's `Int16`, saturating.
pub(crate) fn count_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
