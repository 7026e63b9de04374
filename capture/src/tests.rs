//! Round trips, bounds, and hostile input: truncated at every byte, random bytes, flipped bits.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;

use crate::*;

fn sample() -> Vec<Record> {
    vec![
        Record::SessionStart(SessionStart {
            session: 1,
            at: 5,
            protocol: 0x0003_0000,
            database: "bench".into(),
            user: "alice".into(),
            application_name: "pgbench".into(),
            parameters: vec![("client_encoding".into(), "UTF8".into())],
            server_parameters: vec![("server_version".into(), "17.2".into())],
            continued: false,
        }),
        Record::Frontend(FrontendMessage {
            session: 1,
            at: 10,
            tag: b'Q',
            body: Bytes::from_static(b"SELECT 1\0"),
        }),
        Record::Outcome(StatementOutcome {
            session: 1,
            at: 20,
            fingerprint: 0xdead_beef,
            latency_micros: 9,
            rows: Some(1),
            status: Status::Ok,
            protocol: Protocol::Simple,
            batched: false,
        }),
        Record::Outcome(StatementOutcome {
            session: 1,
            at: 21,
            fingerprint: 7,
            latency_micros: 1,
            rows: None,
            status: Status::Error(*b"42P01"),
            protocol: Protocol::Extended,
            batched: true,
        }),
        Record::Cancel(Cancel {
            at: 22,
            session: Some(1),
        }),
        Record::Dropped(Dropped { at: 23, records: 4 }),
        Record::SessionEnd(SessionEnd { session: 1, at: 30 }),
    ]
}

fn options() -> WriterOptions {
    WriterOptions {
        started_at_micros: 1_700_000_000_000_000,
        capture_id: 42,
        pgscope_version: "0.1.0".into(),
        ..WriterOptions::default()
    }
}

fn write(
    dir: &std::path::Path,
    records: &[Record],
    options: WriterOptions,
) -> (std::path::PathBuf, Summary) {
    let path = dir.join("cap.pgcap");
    let mut writer = Writer::create(&path, options).unwrap();
    for r in records {
        writer.append(r).unwrap();
    }
    let summary = writer.finish(99, EndReason::Stopped).unwrap();
    (path, summary)
}

fn read_all(bytes: &[u8]) -> (Vec<Record>, Option<Error>) {
    let mut reader = match Reader::new(Cursor::new(bytes)) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => records.push(r),
            Ok(None) => return (records, None),
            Err(e) => return (records, Some(e)),
        }
    }
}

#[test]
fn records_round_trip_with_header_and_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let (path, summary) = write(dir.path(), &sample(), options());
    assert_eq!(summary.records, 7);
    assert_eq!(summary.dropped, 4);
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.header().capture_id, 42);
    assert_eq!(reader.header().pgscope_version, "0.1.0");
    assert!(!reader.header().redacted);
    let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(&records[..7], &sample()[..]);
    let trailer = reader.trailer().unwrap();
    assert_eq!(trailer.records, 7);
    assert_eq!(trailer.dropped, 4);
    assert!(trailer.incomplete);
    assert_eq!(trailer.reason, EndReason::Stopped);
}

#[test]
fn capture_files_are_created_with_mode_0600_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), &sample(), options());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = Writer::create(&path, options()).unwrap_err();
    assert!(again.to_string().contains("creating"), "{again}");
}

#[test]
fn a_file_cut_at_any_byte_reads_up_to_its_last_complete_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.pgcap");
    let mut writer = Writer::create(&path, options()).unwrap();
    // One block per record: flush after each.
    for r in sample() {
        writer.append(&r).unwrap();
        writer.flush().unwrap();
    }
    writer.finish(99, EndReason::Stopped).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header_len = FileHeader::read(&mut Cursor::new(&bytes)).unwrap().1 as usize;
    let mut boundaries = vec![header_len];
    let mut at = header_len;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += BLOCK_HEADER + len;
        boundaries.push(at);
    }
    for cut in 0..bytes.len() {
        let (records, err) = read_all(&bytes[..cut]);
        let complete = boundaries
            .iter()
            .filter(|&&b| b <= cut)
            .count()
            .saturating_sub(1);
        if cut < header_len {
            assert!(
                matches!(err, Some(Error::TruncatedHeader(_))),
                "cut {cut}: {err:?}"
            );
        } else if boundaries.contains(&cut) {
            assert!(err.is_none(), "cut {cut}: {err:?}");
            assert_eq!(records.len(), complete, "cut {cut}");
        } else {
            let err = err.expect("a cut inside a block is reported");
            assert!(err.is_truncation(), "cut {cut}: {err}");
            assert!(err.to_string().contains("truncated"), "{err}");
            assert_eq!(records.len(), complete, "cut {cut}");
            assert_eq!(records[..], sample()[..complete], "cut {cut}");
        }
    }
}

#[test]
fn wrong_magic_and_other_versions_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), &sample(), options());
    let good = std::fs::read(&path).unwrap();
    let (_, err) = read_all(b"PGDMP\x01\x0e\x00 this is a pg_dump, not a capture");
    assert!(matches!(err, Some(Error::BadMagic)), "{err:?}");
    let mut other = good.clone();
    other[8] = 2;
    let (_, err) = read_all(&other);
    let err = err.unwrap();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn every_flipped_byte_is_an_error_or_unchanged_records_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), &sample(), options());
    let good = std::fs::read(&path).unwrap();
    let (expected, _) = read_all(&good);
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            let (records, err) = read_all(&bad);
            // A flip may only shorten what is read (a length now past the end reads as a
            // truncation); it never yields a record that was not written.
            match err {
                Some(_) => assert!(expected.starts_with(&records), "byte {i}"),
                None => panic!("byte {i} flipped went unnoticed"),
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(7);
    for n in 0..2000 {
        let len = rng.usize(0..300);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if n % 2 == 0 {
            // Past the magic, so the block parser gets exercised too.
            let header = FileHeader {
                redacted: false,
                started_at_micros: 0,
                capture_id: 1,
                part: 0,
                pgscope_version: "x".into(),
            }
            .encode();
            bytes.splice(0..0, header);
        }
        let _ = read_all(&bytes);
    }
}

#[test]
fn unknown_record_kinds_and_appended_fields_are_skipped() {
    let mut content = Vec::new();
    // A record of kind 200 (from a newer writer) and an Outcome-less SessionEnd with an extra
    // field appended.
    content.extend_from_slice(&4u32.to_le_bytes());
    content.extend_from_slice(&[200, 1, 2, 3]);
    content.extend_from_slice(&(1u32 + 16 + 3).to_le_bytes());
    content.push(5);
    content.extend_from_slice(&9u64.to_le_bytes());
    content.extend_from_slice(&77u64.to_le_bytes());
    content.extend_from_slice(&[1, 2, 3]);
    let frame = zstd::bulk::compress(&content, 1).unwrap();
    let mut file = FileHeader {
        redacted: true,
        started_at_micros: 0,
        capture_id: 1,
        part: 0,
        pgscope_version: "9.9.9".into(),
    }
    .encode();
    file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&frame).to_le_bytes());
    file.extend_from_slice(&frame);
    let mut reader = Reader::new(Cursor::new(file)).unwrap();
    assert!(reader.header().redacted);
    let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        records,
        vec![Record::SessionEnd(SessionEnd { session: 9, at: 77 })]
    );
    assert_eq!(reader.unknown_skipped(), 1);
    assert!(reader.trailer().is_none());
}

#[test]
fn max_bytes_stops_the_capture_below_the_limit_with_a_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.pgcap");
    let max = 4096;
    let mut writer = Writer::create(
        &path,
        WriterOptions {
            max_bytes: Some(max),
            block_bytes: 512,
            ..options()
        },
    )
    .unwrap();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut appended = 0;
    for i in 0..10_000u64 {
        let body: Vec<u8> = (0..100).map(|_| rng.alphanumeric() as u8).collect();
        let r = Record::Frontend(FrontendMessage {
            session: 1,
            at: i,
            tag: b'Q',
            body: body.into(),
        });
        if writer.append(&r).unwrap() == Appended::LimitReached {
            break;
        }
        appended += 1;
    }
    assert!(writer.limit_reached());
    let summary = writer.finish(1, EndReason::Stopped).unwrap();
    assert_eq!(summary.reason, EndReason::MaxBytes);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= max, "{size} > {max}");
    assert_eq!(summary.bytes, size);
    let mut reader = Reader::open(&path).unwrap();
    let n = reader.by_ref().map(Result::unwrap).count() as u64;
    let trailer = reader.trailer().unwrap().clone();
    assert_eq!(trailer.reason, EndReason::MaxBytes);
    assert_eq!(n, trailer.records + 1);
    assert_eq!(trailer.records + trailer.over_limit, appended + 1);
}

#[test]
fn rotated_parts_each_name_the_sessions_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.pgcap");
    let mut writer = Writer::create(
        &path,
        WriterOptions {
            rotate_bytes: Some(2000),
            block_bytes: 256,
            ..options()
        },
    )
    .unwrap();
    writer.append(&sample()[0]).unwrap();
    let mut rng = fastrand::Rng::with_seed(2);
    for i in 0..300u64 {
        let body: Vec<u8> = (0..64).map(|_| rng.alphanumeric() as u8).collect();
        writer
            .append(&Record::Frontend(FrontendMessage {
                session: 1,
                at: i,
                tag: b'Q',
                body: body.into(),
            }))
            .unwrap();
    }
    let summary = writer.finish(400, EndReason::Stopped).unwrap();
    assert!(summary.parts.len() > 2, "{summary:?}");
    assert_eq!(parts(&path), summary.parts);
    let mut frontends = 0;
    for (n, part) in summary.parts.iter().enumerate() {
        assert_eq!(
            std::fs::metadata(part).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut reader = Reader::open(part).unwrap();
        assert_eq!(reader.header().part as usize, n);
        assert_eq!(reader.header().capture_id, 42);
        let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
        match &records[0] {
            Record::SessionStart(s) => assert_eq!(s.continued, n > 0),
            other => panic!("part {n} starts with {other:?}"),
        }
        frontends += records
            .iter()
            .filter(|r| matches!(r, Record::Frontend(_)))
            .count();
        let reason = reader.trailer().unwrap().reason;
        let last = n + 1 == summary.parts.len();
        assert_eq!(
            reason,
            if last {
                EndReason::Stopped
            } else {
                EndReason::Rotated
            }
        );
    }
    assert_eq!(frontends, 300);
}
