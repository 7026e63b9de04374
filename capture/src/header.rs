//! The file header: what a capture is, before any record.
//!
//! ```text
//! magic        8 bytes   89 50 47 53 43 41 50 0A   ("\x89PGSCAP\n")
//! version      u16 LE    FORMAT_VERSION
//! fields_len   u32 LE    length of the fields that follow (≤ 64 KiB)
//! fields:
//!   flags             u32 LE   bit 0: redacted
//!   started_at_micros i64 LE   capture start, microseconds since the Unix epoch
//!   capture_id        u64 LE   random; equal in every rotated part of one capture
//!   part              u32 LE   0 for the first file, 1, 2, … for rotated parts
//!   pgscope_version   u32 LE length + UTF-8
//!   (newer writers may append fields; readers ignore what they do not know)
//! crc32        u32 LE    CRC-32 (IEEE) of every header byte before it
//! ```
//!
//! The magic's first byte is not ASCII and its last is a newline, so a file that went through a
//! text-mode transfer no longer matches (PNG's trick).

use std::io::Read;

use bytes::Bytes;

use crate::codec::{put_str, put_u32, put_u64, Cursor};
use crate::error::Error;

/// The first 8 bytes of every capture file.
pub const MAGIC: [u8; 8] = *b"\x89PGSCAP\n";

/// The format version this crate writes and reads. A reader rejects any other version; changes
/// that old readers can read (new record kinds, fields appended to a record or to the header)
/// keep the version.
pub const FORMAT_VERSION: u16 = 1;

const MAX_FIELDS: u32 = 64 * 1024;
const FLAG_REDACTED: u32 = 1;

/// What the header says about a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// Literals and parameter values were replaced (see the crate's `redact` module).
    pub redacted: bool,
    /// When the capture started, in microseconds since the Unix epoch; record times count from
    /// here.
    pub started_at_micros: i64,
    /// The capture's id, shared by its rotated parts.
    pub capture_id: u64,
    /// This file's part number (0 for the first).
    pub part: u32,
    /// The version of pgscope that wrote the file.
    pub pgscope_version: String,
}

impl FileHeader {
    /// The header's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = Vec::new();
        put_u32(&mut fields, if self.redacted { FLAG_REDACTED } else { 0 });
        put_u64(&mut fields, self.started_at_micros as u64);
        put_u64(&mut fields, self.capture_id);
        put_u32(&mut fields, self.part);
        put_str(&mut fields, &self.pgscope_version);
        let mut out = Vec::with_capacity(fields.len() + 18);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        put_u32(&mut out, u32::try_from(fields.len()).unwrap_or(u32::MAX));
        out.extend_from_slice(&fields);
        let crc = crc32fast::hash(&out);
        put_u32(&mut out, crc);
        out
    }

    /// Reads a header from the start of `input`; returns it and its length in bytes.
    pub fn read(input: &mut impl Read) -> Result<(Self, u64), Error> {
        let mut fixed = [0u8; 14];
        let got = read_up_to(input, &mut fixed)?;
        if got < MAGIC.len() || fixed[..8] != MAGIC {
            return Err(if got < MAGIC.len() && MAGIC.starts_with(&fixed[..got]) {
                Error::TruncatedHeader(got as u64)
            } else {
                Error::BadMagic
            });
        }
        if got < 10 {
            return Err(Error::TruncatedHeader(got as u64));
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if got < fixed.len() {
            return Err(Error::TruncatedHeader(got as u64));
        }
        let len = u32::from_le_bytes([fixed[10], fixed[11], fixed[12], fixed[13]]);
        if len > MAX_FIELDS {
            return Err(Error::corrupt(10, format!("header of {len} bytes")));
        }
        let mut rest = vec![0u8; len as usize + 4];
        let more = read_up_to(input, &mut rest)?;
        let total = (fixed.len() + more) as u64;
        if more < rest.len() {
            return Err(Error::TruncatedHeader(total));
        }
        let (fields, crc) = rest.split_at(len as usize);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed);
        hasher.update(fields);
        if hasher.finalize().to_le_bytes() != crc {
            return Err(Error::corrupt(0, "header checksum mismatch"));
        }
        let mut c = Cursor {
            bytes: Bytes::copy_from_slice(fields),
        };
        let parse = |c: &mut Cursor| -> Result<Self, String> {
            let flags = c.u32()?;
            Ok(FileHeader {
                redacted: flags & FLAG_REDACTED != 0,
                started_at_micros: c.i64()?,
                capture_id: c.u64()?,
                part: c.u32()?,
                pgscope_version: c.string()?,
            })
        };
        let header = parse(&mut c).map_err(|what| Error::corrupt(14, what))?;
        Ok((header, total))
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub(crate) fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, Error> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the capture", e)),
        }
    }
    Ok(got)
}
