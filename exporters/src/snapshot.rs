//! [`Snapshot`]: everything a recorder holds, as one JSON document — what is saved to the state
//! directory, what `pgscope snapshot save` writes, and what `pgscope report --baseline` reads.
//!
//! A snapshot is written by streaming: [`write_snapshot`] visits a [`StatsSource`] entry by entry
//! and serializes each as it goes, so saving 5000 entries never holds a second copy of them.
//! Reading ([`read_snapshot`]) materialises a [`Snapshot`], which is itself a [`StatsSource`]:
//! every exporter works on a saved snapshot exactly as on the live recorder.

use std::io::{Read, Write};

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::source::{
    fingerprint_hex, parse_fingerprint, EntryRef, Labels, QueryInfo, SourceMeta, StatsSource,
};
use crate::model::stats::QueryStats;

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON of the snapshot's shape (truncated, corrupt, another document).
    #[error("not a valid pgscope snapshot: {0}")]
    Format(serde_json::Error),
    /// The reader or writer failed (`No space left on device`, `Read-only file system` …): the
    /// OS error, not a problem with the snapshot.
    #[error("{0}")]
    Io(std::io::Error),
    /// Written by an incompatible version of pgscope.
    #[error("snapshot format version {found} is not supported (this pgscope reads version {SNAPSHOT_VERSION})")]
    Version {
        /// The version found in the file.
        found: u32,
    },
}

/// A fingerprint serialized as its hex text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FingerprintText(pub u64);

impl Serialize for FingerprintText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&fingerprint_hex(self.0))
    }
}

impl<'de> Deserialize<'de> for FingerprintText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_fingerprint(&text)
            .map(FingerprintText)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a fingerprint")))
    }
}

/// One saved entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// The fingerprint.
    pub fingerprint: FingerprintText,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// `application_name`.
    pub application: String,
    /// Query text and analysis.
    pub info: QueryInfo,
    /// The numbers.
    pub stats: QueryStats,
}

impl SnapshotEntry {
    /// This entry as lent by a source.
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            fingerprint: self.fingerprint.0,
            labels: Labels {
                database: &self.database,
                user: &self.user,
                application: &self.application,
            },
            info: &self.info,
            stats: &self.stats,
        }
    }
}

/// A saved recorder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_VERSION`]).
    pub version: u32,
    /// Facts about the recorder when it was saved.
    pub meta: SourceMeta,
    /// Its entries.
    pub entries: Vec<SnapshotEntry>,
}

impl StatsSource for Snapshot {
    fn meta(&self) -> SourceMeta {
        self.meta.clone()
    }

    fn for_each_entry(&self, visit: &mut dyn FnMut(EntryRef<'_>)) {
        for entry in &self.entries {
            visit(entry.as_ref());
        }
    }
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Streamed(self).serialize(serializer)
    }
}

/// Writes `source` as a snapshot, streaming its entries one at a time.
pub fn write_snapshot(source: &dyn StatsSource, writer: impl Write) -> Result<(), SnapshotError> {
    serde_json::to_writer(writer, &Streamed(source)).map_err(SnapshotError::from_json)?;
    Ok(())
}

impl SnapshotError {
    /// Sorts a serde_json error into an I/O failure (with its OS error) or a format problem.
    fn from_json(error: serde_json::Error) -> SnapshotError {
        if error.is_io() {
            SnapshotError::Io(error.into())
        } else {
            SnapshotError::Format(error)
        }
    }
}

/// Reads a snapshot written by [`write_snapshot`].
pub fn read_snapshot(reader: impl Read) -> Result<Snapshot, SnapshotError> {
    let snapshot: Snapshot = serde_json::from_reader(reader).map_err(SnapshotError::from_json)?;
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version {
            found: snapshot.version,
        });
    }
    Ok(snapshot)
}

/// Serializes a source in the [`Snapshot`] shape without materialising it.
struct Streamed<'a, S: ?Sized>(&'a S);

impl<S: StatsSource + ?Sized> Serialize for Streamed<'_, S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut object = serializer.serialize_struct("Snapshot", 3)?;
        object.serialize_field("version", &SNAPSHOT_VERSION)?;
        object.serialize_field("meta", &self.0.meta())?;
        object.serialize_field("entries", &StreamedEntries(self.0))?;
        object.end()
    }
}

struct StreamedEntries<'a, S: ?Sized>(&'a S);

impl<S: StatsSource + ?Sized> Serialize for StreamedEntries<'_, S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let mut failure = None;
        self.0.for_each_entry(&mut |entry| {
            if failure.is_none() {
                if let Err(error) = seq.serialize_element(&EntryOut(entry)) {
                    failure = Some(error);
                }
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        seq.end()
    }
}

/// An [`EntryRef`] serialized as a [`SnapshotEntry`].
struct EntryOut<'a>(EntryRef<'a>);

impl Serialize for EntryOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = &self.0;
        let mut object = serializer.serialize_struct("SnapshotEntry", 6)?;
        object.serialize_field("fingerprint", &FingerprintText(entry.fingerprint))?;
        object.serialize_field("database", entry.labels.database)?;
        object.serialize_field("user", entry.labels.user)?;
        object.serialize_field("application", entry.labels.application)?;
        object.serialize_field("info", entry.info)?;
        object.serialize_field("stats", entry.stats)?;
        object.end()
    }
}
