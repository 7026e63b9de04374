//! Writing a capture file: records are appended to a pending block, which is sealed and written
//! with one `write` when it reaches `block_bytes` or when the owner calls [`Writer::flush`]
//! (pgscope's writer thread flushes at least every second, so a crash loses at most that much).
//!
//! Bounds: `max_bytes` caps the bytes of all parts together — a block that would cross it
//! (leaving room for the trailer) is not written and the capture ends with
//! [`EndReason::MaxBytes`]; `rotate_bytes` ends a part at the first block boundary at or past
//! that size and continues in `stem.1.ext`, `stem.2.ext`, …, each part beginning with a
//! `continued` [`SessionStart`] for every session still open, so each part names the sessions
//! it holds. Files are created new (never overwritten) with mode 0600.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::block::BlockEncoder;
use crate::error::Error;
use crate::header::FileHeader;
use crate::record::{EndReason, Offset, Record, SessionStart, Trailer};

/// Room kept below `max_bytes` for the trailer's block.
const TRAILER_RESERVE: u64 = 128;

/// How to write a capture.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Whether the records are redacted (written to the header; the writer does not redact).
    pub redacted: bool,
    /// Capture start, microseconds since the Unix epoch.
    pub started_at_micros: i64,
    /// The capture's id (shared by its parts).
    pub capture_id: u64,
    /// The writing pgscope's version.
    pub pgscope_version: String,
    /// Bound on the bytes of all parts together.
    pub max_bytes: Option<u64>,
    /// Start a new part once the current one holds this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Seal a block once this many uncompressed bytes are pending.
    pub block_bytes: usize,
    /// zstd compression level.
    pub level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            redacted: false,
            started_at_micros: 0,
            capture_id: 0,
            pgscope_version: String::new(),
            max_bytes: None,
            rotate_bytes: None,
            block_bytes: 128 * 1024,
            level: 1,
        }
    }
}

/// What [`Writer::append`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Taken (pending or written).
    Taken,
    /// Not taken: `max_bytes` was reached; the capture should be finished.
    LimitReached,
}

/// The account of a finished capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The files written, in order.
    pub parts: Vec<PathBuf>,
    /// Bytes of all parts.
    pub bytes: u64,
    /// Records written (trailers excluded).
    pub records: u64,
    /// Records dropped upstream of the writer (sum of the `Dropped` records).
    pub dropped: u64,
    /// Records not written because of `max_bytes`.
    pub over_limit: u64,
    /// Why it ended.
    pub reason: EndReason,
}

/// The path of part `n` of the capture whose first part is `path`: `cap.pgcap` → `cap.1.pgcap`
/// (`cap` → `cap.1`).
pub fn part_path(path: &Path, n: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    path.with_file_name(name)
}

/// A capture being written.
#[derive(Debug)]
pub struct Writer {
    options: WriterOptions,
    first: PathBuf,
    parts: Vec<PathBuf>,
    file: File,
    encoder: BlockEncoder,
    live: BTreeMap<u64, SessionStart>,
    part_bytes: u64,
    total_bytes: u64,
    part_records: u64,
    records: u64,
    dropped: u64,
    over_limit: u64,
    limit_reached: bool,
}

impl Writer {
    /// Creates the capture's first file at `path` (which must not exist) with mode 0600.
    pub fn create(path: &Path, options: WriterOptions) -> Result<Self, Error> {
        let encoder = BlockEncoder::new(options.level)?;
        let file = create_part(path, &options, 0)?;
        let header_len = header(&options, 0).encode().len() as u64;
        Ok(Writer {
            options,
            first: path.to_path_buf(),
            parts: vec![path.to_path_buf()],
            file,
            encoder,
            live: BTreeMap::new(),
            part_bytes: header_len,
            total_bytes: header_len,
            part_records: 0,
            records: 0,
            dropped: 0,
            over_limit: 0,
            limit_reached: false,
        })
    }

    /// Appends a record (it reaches the file at the next block boundary or flush).
    pub fn append(&mut self, record: &Record) -> Result<Appended, Error> {
        if self.limit_reached {
            self.over_limit += 1;
            return Ok(Appended::LimitReached);
        }
        match record {
            Record::SessionStart(s) => {
                self.live.insert(s.session, s.clone());
            }
            Record::SessionEnd(e) => {
                self.live.remove(&e.session);
            }
            Record::Dropped(d) => self.dropped += d.records,
            _ => {}
        }
        self.encoder.push(record)?;
        if self.encoder.pending_bytes() >= self.options.block_bytes {
            self.write_pending()?;
        }
        Ok(if self.limit_reached {
            Appended::LimitReached
        } else {
            Appended::Taken
        })
    }

    /// Writes the pending records as a block now.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.write_pending()?;
        self.file
            .flush()
            .map_err(|e| Error::io(format!("writing {}", self.current().display()), e))
    }

    /// Whether `max_bytes` has been reached.
    pub fn limit_reached(&self) -> bool {
        self.limit_reached
    }

    /// Bytes written to all parts so far.
    pub fn bytes_written(&self) -> u64 {
        self.total_bytes
    }

    /// Records written or pending so far.
    pub fn records(&self) -> u64 {
        self.records + self.encoder.pending_records()
    }

    /// The parts created so far.
    pub fn parts(&self) -> &[PathBuf] {
        &self.parts
    }

    /// Writes what is pending and the trailer, syncs, and closes the file. `reason` is replaced
    /// by [`EndReason::MaxBytes`] when the limit ended the capture.
    pub fn finish(mut self, at: Offset, reason: EndReason) -> Result<Summary, Error> {
        self.write_pending()?;
        let reason = if self.limit_reached {
            EndReason::MaxBytes
        } else {
            reason
        };
        self.write_trailer(at, reason)?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("syncing {}", self.current().display()), e))?;
        Ok(Summary {
            parts: self.parts,
            bytes: self.total_bytes,
            records: self.records,
            dropped: self.dropped,
            over_limit: self.over_limit,
            reason,
        })
    }

    fn current(&self) -> &Path {
        self.parts.last().map_or(&self.first, |p| p.as_path())
    }

    fn write_pending(&mut self) -> Result<(), Error> {
        let records = self.encoder.pending_records();
        let Some(block) = self.encoder.seal()? else {
            return Ok(());
        };
        let size = block.len() as u64;
        if let Some(max) = self.options.max_bytes {
            if self.total_bytes + size + TRAILER_RESERVE > max {
                self.limit_reached = true;
                self.over_limit += records;
                return Ok(());
            }
        }
        self.write_block(&block)?;
        self.records += records;
        self.part_records += records;
        if let Some(rotate) = self.options.rotate_bytes {
            if self.part_bytes >= rotate {
                self.rotate()?;
            }
        }
        Ok(())
    }

    fn write_block(&mut self, block: &[u8]) -> Result<(), Error> {
        let path = self.current().to_path_buf();
        self.file
            .write_all(block)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        self.part_bytes += block.len() as u64;
        self.total_bytes += block.len() as u64;
        Ok(())
    }

    fn write_trailer(&mut self, at: Offset, reason: EndReason) -> Result<(), Error> {
        let mut encoder = BlockEncoder::new(self.options.level)?;
        encoder.push(&Record::Trailer(Trailer {
            at,
            reason,
            records: self.part_records,
            dropped: self.dropped,
            over_limit: self.over_limit,
            incomplete: self.dropped > 0,
        }))?;
        if let Some(block) = encoder.seal()? {
            self.write_block(&block)?;
        }
        Ok(())
    }

    /// Ends the current part with a `Rotated` trailer and opens the next one.
    fn rotate(&mut self) -> Result<(), Error> {
        let at = self.live.values().map(|s| s.at).max().unwrap_or(0);
        self.write_trailer(at, EndReason::Rotated)?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("syncing {}", self.current().display()), e))?;
        let n = u32::try_from(self.parts.len()).unwrap_or(u32::MAX);
        let path = part_path(&self.first, n);
        self.file = create_part(&path, &self.options, n)?;
        let header_len = header(&self.options, n).encode().len() as u64;
        self.parts.push(path);
        self.part_bytes = header_len;
        self.total_bytes += header_len;
        self.part_records = 0;
        let live: Vec<SessionStart> = self.live.values().cloned().collect();
        for mut start in live {
            start.continued = true;
            self.encoder.push(&Record::SessionStart(start))?;
        }
        Ok(())
    }
}

fn header(options: &WriterOptions, part: u32) -> FileHeader {
    FileHeader {
        redacted: options.redacted,
        started_at_micros: options.started_at_micros,
        capture_id: options.capture_id,
        part,
        pgscope_version: options.pgscope_version.clone(),
    }
}

fn create_part(path: &Path, options: &WriterOptions, part: u32) -> Result<File, Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    file.write_all(&header(options, part).encode())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(file)
}
