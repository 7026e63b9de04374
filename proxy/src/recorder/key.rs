//! The recorder's key: fingerprint × database × user × application.
//!
//! Keys are hashed with foldhash (fast, seeded per process): once to pick the shard, with the
//! recorder's own seed, and again inside the shard's map with the map's seed. The seeds differ
//! on purpose: were the map's hash the one that picked the shard, every key of a shard would
//! share its low bits and crowd into a fraction of the map's buckets.

use std::hash::{Hash, Hasher};
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
