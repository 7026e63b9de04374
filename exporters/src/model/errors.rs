//! [`ErrorCounts`]: failed executions by SQLSTATE, in a small bounded list.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::stats::Sqlstate;

/// Distinct SQLSTATEs kept per key; further codes are counted under [`OTHER`].
pub const MAX_SQLSTATES: usize = 16;

/// The pseudo-code counting errors past [`MAX_SQLSTATES`] distinct codes (lower case, so no
/// real SQLSTATE can collide with it).
pub const OTHER: Sqlstate = *b"other";

/// Failures by SQLSTATE. Empty, it allocates nothing. Serialized as `{"23505": 3}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    codes: Vec<(Sqlstate, u64)>,
}

impl ErrorCounts {
    /// Adds `n` failures with `code`.
    pub fn add(&mut self, code: Sqlstate, n: u64) {
        if let Some((_, count)) = self.codes.iter_mut().find(|(c, _)| *c == code) {
            *count += n;
            return;
        }
        if self.codes.len() + 1 < MAX_SQLSTATES || code == OTHER {
            self.codes.push((code, n));
        } else {
            self.add(OTHER, n);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (code, n) in &other.codes {
            self.add(*code, *n);
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.codes.iter().map(|(_, n)| n).sum()
    }

    /// Each SQLSTATE (as text) with its count, sorted by code.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        self.codes
            .iter()
            .map(|(code, n)| (String::from_utf8_lossy(code).into_owned(), *n))
            .collect()
    }

    /// Each SQLSTATE with its count, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (Sqlstate, u64)> + '_ {
        self.codes.iter().copied()
    }

    /// Whether no failure was counted.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.codes.capacity() * std::mem::size_of::<(Sqlstate, u64)>()
    }
}

impl Serialize for ErrorCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ErrorCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut counts = ErrorCounts::default();
        for (code, n) in map {
            let code: Sqlstate = code.as_bytes().try_into().map_err(|_| {
                serde::de::Error::custom(format!("{code:?} is not a five-character SQLSTATE"))
            })?;
            counts.add(code, n);
        }
        Ok(counts)
    }
}
