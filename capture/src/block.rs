//! Blocks: the unit of compression, flushing and crash safety.
//!
//! ```text
//! block   := frame_len: u32 LE | crc32: u32 LE | frame: frame_len bytes
//! frame   := one zstd frame (content size and content checksum set) whose content is
//! content := record*            (whole records only; a record never spans two blocks)
//! record  := len: u32 LE | tag: u8 | payload: len - 1 bytes
//! ```
//!
//! The CRC-32 covers the frame's bytes, so a flipped byte is an error before zstd sees it, and
//! zstd's own checksum covers the content. Because a block holds only whole records and is
//! written with one `write`, a file cut anywhere (a crash, a full disk, a copy in progress) is
//! readable up to the last complete block: the reader meets a block whose announced length runs
//! past the end of the file and reports [`Error::Truncated`].

use std::io::Read;

use bytes::{Buf, Bytes};

use crate::codec;
use crate::error::Error;
use crate::header::read_up_to;
use crate::record::Record;

/// The largest record the format allows: a PostgreSQL message is at most 1 GiB, plus room for
/// the record's own fields.
pub const MAX_RECORD: usize = (1 << 30) + (1 << 20);

/// The largest block content a reader accepts (one maximal record plus a block's worth).
const MAX_CONTENT: u64 = MAX_RECORD as u64 + (16 << 20);

/// Bytes of a block header.
pub const BLOCK_HEADER: usize = 8;

/// Accumulates records and seals them into blocks (sans-IO: bytes out, no file).
pub struct BlockEncoder {
    content: Vec<u8>,
    records: u64,
    compressor: zstd::bulk::Compressor<'static>,
}

impl std::fmt::Debug for BlockEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockEncoder")
            .field("pending_bytes", &self.content.len())
            .field("pending_records", &self.records)
            .finish()
    }
}

impl BlockEncoder {
    /// An encoder compressing at zstd `level` (1 is fast and already shrinks protocol traffic
    /// several times).
    pub fn new(level: i32) -> Result<Self, Error> {
        let mut compressor =
            zstd::bulk::Compressor::new(level).map_err(|e| Error::io("setting up zstd", e))?;
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(|e| Error::io("setting up zstd", e))?;
        Ok(BlockEncoder {
            content: Vec::new(),
            records: 0,
            compressor,
        })
    }

    /// Adds a record to the pending block.
    pub fn push(&mut self, record: &Record) -> Result<(), Error> {
        let start = self.content.len();
        codec::encode(record, &mut self.content);
        let len = self.content.len() - start;
        if len > MAX_RECORD {
            self.content.truncate(start);
            return Err(Error::RecordTooLarge(len));
        }
        self.records += 1;
        Ok(())
    }

    /// Uncompressed bytes pending.
    pub fn pending_bytes(&self) -> usize {
        self.content.len()
    }

    /// Records pending.
    pub fn pending_records(&self) -> u64 {
        self.records
    }

    /// Forgets the pending records (returns how many there were).
    pub fn discard(&mut self) -> u64 {
        self.content.clear();
        std::mem::take(&mut self.records)
    }

    /// The pending records as one block (header and zstd frame), or `None` if nothing is
    /// pending. The encoder is empty afterwards.
    pub fn seal(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.records == 0 {
            return Ok(None);
        }
        let frame = self
            .compressor
            .compress(&self.content)
            .map_err(|e| Error::io("compressing a capture block", e))?;
        self.content.clear();
        self.records = 0;
        let mut block = Vec::with_capacity(frame.len() + BLOCK_HEADER);
        codec::put_u32(&mut block, u32::try_from(frame.len()).unwrap_or(u32::MAX));
        codec::put_u32(&mut block, crc32fast::hash(&frame));
        block.extend_from_slice(&frame);
        Ok(Some(block))
    }
}

/// Reads the next block at file offset `offset` from `input`: `Ok(None)` at a clean end of
/// file, otherwise the block's decoded records (unknown kinds already skipped: their count is
/// the second value) and its length in bytes. `records_before` only feeds the truncation
/// message.
pub(crate) fn read_block(
    input: &mut impl Read,
    offset: u64,
    records_before: u64,
) -> Result<Option<(Vec<Record>, u64, u64)>, Error> {
    let mut head = [0u8; BLOCK_HEADER];
    let got = read_up_to(input, &mut head)?;
    if got == 0 {
        return Ok(None);
    }
    if got < BLOCK_HEADER {
        return Err(Error::Truncated {
            offset,
            have: got as u64,
            need: BLOCK_HEADER as u64,
            records: records_before,
        });
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let need = BLOCK_HEADER as u64 + u64::from(len);
    // Read through `take`: a corrupt length costs what the file holds, not what it claims.
    let mut frame = Vec::new();
    input
        .take(u64::from(len))
        .read_to_end(&mut frame)
        .map_err(|e| Error::io("reading the capture", e))?;
    if (frame.len() as u64) < u64::from(len) {
        return Err(Error::Truncated {
            offset,
            have: BLOCK_HEADER as u64 + frame.len() as u64,
            need,
            records: records_before,
        });
    }
    if crc32fast::hash(&frame) != crc {
        return Err(Error::corrupt(offset, "block checksum mismatch"));
    }
    // The frame says its content's size (the writer sets it): take room for it at once rather
    // than growing the buffer as the content comes out.
    let mut content = match zstd::zstd_safe::get_frame_content_size(&frame) {
        Ok(Some(size)) if size <= MAX_CONTENT => Vec::with_capacity(size as usize + 1),
        _ => Vec::new(),
    };
    let decoder = zstd::stream::read::Decoder::with_buffer(&frame[..])
        .map_err(|e| Error::corrupt(offset, format!("zstd: {e}")))?;
    decoder
        .take(MAX_CONTENT + 1)
        .read_to_end(&mut content)
        .map_err(|e| Error::corrupt(offset, format!("zstd: {e}")))?;
    if content.len() as u64 > MAX_CONTENT {
        return Err(Error::corrupt(
            offset,
            "block content exceeds the format's limit",
        ));
    }
    let (records, unknown) =
        split_records(Bytes::from(content)).map_err(|what| Error::corrupt(offset, what))?;
    Ok(Some((records, unknown, need)))
}

/// The records of one block's content, and how many of unknown kinds were skipped.
fn split_records(mut content: Bytes) -> Result<(Vec<Record>, u64), String> {
    // Room for records of about 64 bytes (a short statement and its outcome), so that a block
    // of them is not moved to a larger vector a dozen times as it is read; bounded, for a block
    // of a few large records (COPY data).
    let mut records = Vec::with_capacity((content.len() / 64).min(4096));
    let mut unknown = 0;
    while !content.is_empty() {
        if content.len() < 5 {
            return Err("a record header runs past the block's end".into());
        }
        let len = u32::from_le_bytes([content[0], content[1], content[2], content[3]]) as usize;
        if len == 0 || len > content.len() - 4 {
            return Err(format!("a record of {len} bytes runs past the block's end"));
        }
        // One split per record: the length and the tag are stepped over, not split off.
        content.advance(4);
        let mut body = content.split_to(len);
        let tag = body[0];
        body.advance(1);
        match codec::decode(tag, body).map_err(|e| format!("record kind {tag}: {e}"))? {
            Some(r) => records.push(r),
            None => unknown += 1,
        }
    }
    Ok((records, unknown))
}
