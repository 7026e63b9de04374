//! Reading a capture: records in order, one block at a time (memory is one block, not the
//! file). A file cut short yields every record of its complete blocks and then
//! [`Error::Truncated`]; anything else that is wrong is an error naming the byte offset.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::block::read_block;
use crate::error::Error;
use crate::header::FileHeader;
use crate::record::{Record, Trailer};

/// A streaming reader of one capture file.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    header: FileHeader,
    offset: u64,
    /// The current block's records not yet returned (taken one by one, never copied again).
    pending: std::vec::IntoIter<Record>,
    records: u64,
    unknown: u64,
    trailer: Option<Trailer>,
    done: bool,
}

impl Reader<BufReader<File>> {
    /// Opens the capture at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Reader::new(BufReader::with_capacity(256 * 1024, file))
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header from `input`.
    pub fn new(mut input: R) -> Result<Self, Error> {
        let (header, offset) = FileHeader::read(&mut input)?;
        Ok(Reader {
            input,
            header,
            offset,
            pending: Vec::new().into_iter(),
            records: 0,
            unknown: 0,
            trailer: None,
            done: false,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The next record; `Ok(None)` at the end of the file. After an error, `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        loop {
            if let Some(record) = self.pending.next() {
                self.records += 1;
                if let Record::Trailer(t) = &record {
                    self.trailer = Some(t.clone());
                }
                return Ok(Some(record));
            }
            if self.done {
                return Ok(None);
            }
            match read_block(&mut self.input, self.offset, self.records) {
                Ok(Some((records, unknown, len))) => {
                    self.offset += len;
                    self.unknown += unknown;
                    self.pending = records.into_iter();
                }
                Ok(None) => {
                    self.done = true;
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Records of kinds this version does not know, skipped so far (written by a newer pgscope).
    pub fn unknown_skipped(&self) -> u64 {
        self.unknown
    }

    /// The trailer, once read: `None` at the end of the file means the writer did not close it
    /// (it crashed or is still writing).
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// Bytes consumed so far (header and complete blocks).
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// The files of a capture that may have been rotated: `path` itself, then `stem.1.ext`,
/// `stem.2.ext`, … for as long as they exist (see [`crate::writer::part_path`]).
pub fn parts(path: &Path) -> Vec<PathBuf> {
    let mut parts = vec![path.to_path_buf()];
    for n in 1.. {
        let next = crate::writer::part_path(path, n);
        if !next.exists() {
            break;
        }
        parts.push(next);
    }
    parts
}
