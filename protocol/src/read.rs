//! A bounds-checked reader over a message body, shared by the startup, frontend and backend
//! parsers. Every read returns [`ProtocolError::Malformed`] instead of panicking when the body is
//! too short, so no parser indexes into untrusted bytes directly.

use std::ffi::CStr;

use crate::ProtocolError;

/// Reads big-endian integers and NUL-terminated strings from the front of a body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    tag: u8,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, the body of a message of type `tag` (0 for startup packets).
    pub(crate) fn new(tag: u8, buf: &'a [u8]) -> Self {
        Reader { buf, tag }
    }

    /// The error for this message, saying `what` went wrong.
    pub(crate) fn error(&self, what: &'static str) -> ProtocolError {
        ProtocolError::Malformed {
            tag: self.tag,
            what,
        }
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], ProtocolError> {
        let (head, tail) = self.buf.split_first_chunk::<N>().ok_or(self.error(what))?;
        self.buf = tail;
        Ok(*head)
    }

    /// The next byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ProtocolError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    /// The next big-endian 16-bit unsigned integer.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ProtocolError> {
        self.array(what).map(u16::from_be_bytes)
    }

    /// The next big-endian 32-bit unsigned integer.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ProtocolError> {
        self.array(what).map(u32::from_be_bytes)
    }

    /// The next big-endian 32-bit signed integer.
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, ProtocolError> {
        self.array(what).map(i32::from_be_bytes)
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(self.error(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next NUL-terminated string, without its terminator (which is consumed).
    pub(crate) fn cstr(&mut self, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        let (s, rest) = split_cstr(self.buf).ok_or(self.error(what))?;
        self.buf = rest;
        Ok(s)
    }

    /// A length-prefixed value: an `Int32` length, `-1` for NULL, then that many bytes.
    pub(crate) fn nullable_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, ProtocolError> {
        match self.i32(what)? {
            -1 => Ok(None),
            n => {
                let n = usize::try_from(n).map_err(|_| self.error(what))?;
                self.bytes(n, what).map(Some)
            }
        }
    }

    /// Everything not yet read, without consuming it.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Succeeds only when the whole body has been read.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }
}

/// Splits `buf` at its first NUL: the string before it and the bytes after it.
///
/// The search goes through `CStr::from_bytes_until_nul`, whose NUL search is the standard
/// library's word-at-a-time `memchr`: several times faster than a byte loop on query texts.
pub(crate) fn split_cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let pos = CStr::from_bytes_until_nul(buf).ok()?.count_bytes();
    let (s, rest) = buf.split_at(pos);
    Some((s, rest.get(1..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::Reader;
    use crate::ProtocolError;

    #[test]
    fn short_integer_is_malformed_not_panic() {
        let mut r = Reader::new(b'X', &[0, 1, 2]);
        assert_eq!(
            r.u32("short"),
            Err(ProtocolError::Malformed {
                tag: b'X',
                what: "short"
            })
        );
    }

    #[test]
    fn cstr_without_nul_is_malformed() {
        let mut r = Reader::new(b'Q', b"abc");
        assert!(r.cstr("no nul").is_err());
    }

    #[test]
    fn cstr_consumes_terminator() {
        let mut r = Reader::new(b'Q', b"ab\0cd\0");
        assert_eq!(r.cstr("a"), Ok(&b"ab"[..]));
        assert_eq!(r.cstr("b"), Ok(&b"cd"[..]));
        assert!(r.finish("end").is_ok());
    }

    #[test]
    fn negative_length_other_than_minus_one_is_malformed() {
        let minus_two = (-2i32).to_be_bytes();
        let mut r = Reader::new(b'V', &minus_two);
        assert!(r.nullable_bytes("len").is_err());
        let minus_one = (-1i32).to_be_bytes();
        let mut r = Reader::new(b'V', &minus_one);
        assert_eq!(r.nullable_bytes("len"), Ok(None));
    }
}
