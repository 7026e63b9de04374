//! Records ↔ bytes. Every integer is little-endian and fixed-width (zstd removes the zeros);
//! a string or byte run is a `u32` length and its bytes; an optional `u64` is a `u8` flag
//! (0 absent, 1 present) and the value. A record is `len: u32` (of what follows), `tag: u8`,
//! payload. A decoder ignores payload bytes after the fields it knows (newer writers may append
//! fields) and the caller skips records whose tag it does not know.

use bytes::{Buf, Bytes};

use crate::record::{
    Cancel, Dropped, EndReason, FrontendMessage, Protocol, Record, SessionEnd, SessionStart,
    StatementOutcome, Status, Trailer,
};

/// Tag bytes of the record kinds.
pub(crate) mod tag {
    pub(crate) const SESSION_START: u8 = 1;
    pub(crate) const FRONTEND: u8 = 2;
    pub(crate) const CANCEL: u8 = 3;
    pub(crate) const OUTCOME: u8 = 4;
    pub(crate) const SESSION_END: u8 = 5;
    pub(crate) const DROPPED: u8 = 6;
    pub(crate) const TRAILER: u8 = 7;
}

/// Appends `record`, framed (`len`, `tag`, payload), to `out`.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match record {
        Record::SessionStart(r) => {
            out.push(tag::SESSION_START);
            put_u64(out, r.session);
            put_u64(out, r.at);
            put_u32(out, r.protocol);
            put_str(out, &r.database);
            put_str(out, &r.user);
            put_str(out, &r.application_name);
            put_pairs(out, &r.parameters);
            put_pairs(out, &r.server_parameters);
            out.push(u8::from(r.continued));
        }
        Record::Frontend(r) => {
            out.push(tag::FRONTEND);
            put_u64(out, r.session);
            put_u64(out, r.at);
            out.push(r.tag);
            put_bytes(out, &r.body);
        }
        Record::Cancel(r) => {
            out.push(tag::CANCEL);
            put_u64(out, r.at);
            put_opt(out, r.session);
        }
        Record::Outcome(r) => {
            out.push(tag::OUTCOME);
            put_u64(out, r.session);
            put_u64(out, r.at);
            put_u64(out, r.fingerprint);
            put_u64(out, r.latency_micros);
            put_opt(out, r.rows);
            let (status, sqlstate) = match r.status {
                Status::Ok => (0, [0; 5]),
                Status::Error(code) => (1, code),
                Status::Skipped => (2, [0; 5]),
            };
            out.push(status);
            out.extend_from_slice(&sqlstate);
            out.push(match r.protocol {
                Protocol::Simple => 0,
                Protocol::Extended => 1,
                Protocol::Prepare => 2,
            });
            out.push(u8::from(r.batched));
        }
        Record::SessionEnd(r) => {
            out.push(tag::SESSION_END);
            put_u64(out, r.session);
            put_u64(out, r.at);
        }
        Record::Dropped(r) => {
            out.push(tag::DROPPED);
            put_u64(out, r.at);
            put_u64(out, r.records);
        }
        Record::Trailer(r) => {
            out.push(tag::TRAILER);
            put_u64(out, r.at);
            out.push(match r.reason {
                EndReason::Stopped => 0,
                EndReason::Duration => 1,
                EndReason::MaxBytes => 2,
                EndReason::Rotated => 3,
                EndReason::Failed => 4,
            });
            put_u64(out, r.records);
            put_u64(out, r.dropped);
            put_u64(out, r.over_limit);
            out.push(u8::from(r.incomplete));
        }
    }
    let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Decodes one record's payload (`body` = bytes after the tag). `Ok(None)` for a tag this
/// version does not know (to be skipped); `Err` with what is wrong otherwise.
pub(crate) fn decode(tag: u8, body: Bytes) -> Result<Option<Record>, String> {
    let mut c = Cursor { bytes: body };
    let record = match tag {
        tag::SESSION_START => Record::SessionStart(SessionStart {
            session: c.u64()?,
            at: c.u64()?,
            protocol: c.u32()?,
            database: c.string()?,
            user: c.string()?,
            application_name: c.string()?,
            parameters: c.pairs()?,
            server_parameters: c.pairs()?,
            continued: c.flag()?,
        }),
        tag::FRONTEND => Record::Frontend(FrontendMessage {
            session: c.u64()?,
            at: c.u64()?,
            tag: c.u8()?,
            body: c.bytes()?,
        }),
        tag::CANCEL => Record::Cancel(Cancel {
            at: c.u64()?,
            session: c.opt()?,
        }),
        tag::OUTCOME => {
            let (session, at, fingerprint, latency_micros) =
                (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
            let rows = c.opt()?;
            let status = c.u8()?;
            let sqlstate: [u8; 5] = c.array()?;
            let status = match status {
                0 => Status::Ok,
                1 if sqlstate.iter().all(u8::is_ascii_alphanumeric) => Status::Error(sqlstate),
                1 => {
                    return Err(format!(
                        "SQLSTATE {sqlstate:?} is not five ASCII letters or digits"
                    ))
                }
                2 => Status::Skipped,
                other => return Err(format!("unknown statement status {other}")),
            };
            let protocol = match c.u8()? {
                0 => Protocol::Simple,
                1 => Protocol::Extended,
                2 => Protocol::Prepare,
                other => return Err(format!("unknown statement protocol {other}")),
            };
            Record::Outcome(StatementOutcome {
                session,
                at,
                fingerprint,
                latency_micros,
                rows,
                status,
                protocol,
                batched: c.flag()?,
            })
        }
        tag::SESSION_END => Record::SessionEnd(SessionEnd {
            session: c.u64()?,
            at: c.u64()?,
        }),
        tag::DROPPED => Record::Dropped(Dropped {
            at: c.u64()?,
            records: c.u64()?,
        }),
        tag::TRAILER => Record::Trailer(Trailer {
            at: c.u64()?,
            reason: match c.u8()? {
                0 => EndReason::Stopped,
                1 => EndReason::Duration,
                2 => EndReason::MaxBytes,
                3 => EndReason::Rotated,
                4 => EndReason::Failed,
                other => return Err(format!("unknown end reason {other}")),
            },
            records: c.u64()?,
            dropped: c.u64()?,
            over_limit: c.u64()?,
            incomplete: c.flag()?,
        }),
        _ => return Ok(None),
    };
    Ok(Some(record))
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            out.push(1);
            put_u64(out, v);
        }
        None => out.push(0),
    }
}

fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_u32(out, u32::try_from(v.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(v);
}

pub(crate) fn put_str(out: &mut Vec<u8>, v: &str) {
    put_bytes(out, v.as_bytes());
}

fn put_pairs(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    put_u32(out, u32::try_from(pairs.len()).unwrap_or(u32::MAX));
    for (k, v) in pairs {
        put_str(out, k);
        put_str(out, v);
    }
}

/// A bounds-checked reader over one record's payload.
pub(crate) struct Cursor {
    pub(crate) bytes: Bytes,
}

impl Cursor {
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, String> {
        if self.bytes.len() < n {
            return Err(format!(
                "record ends early: {n} bytes wanted, {} left",
                self.bytes.len()
            ));
        }
        Ok(self.bytes.split_to(n))
    }

    /// The next `N` bytes, copied out: fixed-size fields are read without splitting off a
    /// shared `Bytes` (whose reference count each split would touch twice).
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let Some(field) = self.bytes.get(..N) else {
            return Err(format!(
                "record ends early: {N} bytes wanted, {} left",
                self.bytes.len()
            ));
        };
        let mut out = [0; N];
        out.copy_from_slice(field);
        self.bytes.advance(N);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("flag byte {other} is neither 0 nor 1")),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        self.u64().map(|v| v as i64)
    }

    fn opt(&mut self) -> Result<Option<u64>, String> {
        Ok(if self.flag()? {
            Some(self.u64()?)
        } else {
            None
        })
    }

    pub(crate) fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| "a text field is not UTF-8".to_owned())
    }

    fn pairs(&mut self) -> Result<Vec<(String, String)>, String> {
        let n = self.u32()? as usize;
        // Each pair takes at least 8 bytes: a count larger than that is corrupt, not a reason
        // to allocate.
        if n > self.bytes.len() / 8 {
            return Err(format!(
                "{n} parameters announced in {} bytes",
                self.bytes.len()
            ));
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(pairs)
    }
}
