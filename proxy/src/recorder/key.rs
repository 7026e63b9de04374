//! The recorder's key — fingerprint × database × user × application — and the cheap hasher
//! used for it.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use crate::event::ConnectionInfo;

/// One recorder entry's identity. The labels are the connection's shared `Arc`, so making a
/// key costs a reference count, and keys of different connections with the same labels are
/// equal (compared by content).
#[derive(Debug, Clone)]
pub struct Key {
    /// The query shape's fingerprint.
    pub fingerprint: u64,
    /// The connection's labels.
    pub connection: Arc<ConnectionInfo>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.fingerprint == other.fingerprint
            && (Arc::ptr_eq(&self.connection, &other.connection)
                || (self.connection.database == other.connection.database
                    && self.connection.user == other.connection.user
                    && self.connection.application_name == other.connection.application_name))
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint);
        self.connection.database.hash(state);
        self.connection.user.hash(state);
        self.connection.application_name.hash(state);
    }
}

/// A fast non-cryptographic hasher (the multiply-rotate scheme of rustc's FxHasher).
///
/// Hash flooding is not a concern here: every shard holds a bounded number of entries, so the
/// worst case of colliding keys is a scan of one small shard.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down: shards are picked from the low bits.
        self.hash ^ (self.hash >> 29)
    }
}

/// The `BuildHasher` of the recorder's maps.
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// The hash of `key` (the same one its shard's map uses).
pub fn hash_of(key: &Key) -> u64 {
    let mut hasher = FxHasher::default();
    key.hash(&mut hasher);
    hasher.finish()
}
