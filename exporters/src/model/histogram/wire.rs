//! The serialized form of both histograms, shared by snapshots and the JSON API:
//! `{"bits": 10, "max_us": 5120, "buckets": [gap, count, gap, count, …]}`, where each `gap`
//! is the bucket index minus the previous one's (the first is the index itself). Gaps keep the
//! numbers — and the file — small; loading checks every index and the layout, so a hand-edited or
//! truncated snapshot is an error, never a panic.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{index, max_index, Bucket, CompactHistogram, Histogram, COMPACT_BITS, FULL_BITS};

/// A histogram as written in snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramData {
    /// Sub-bucket bits of the layout (see [`super`]).
    pub bits: u32,
    /// Largest value recorded, µs.
    pub max_us: u64,
    /// `[gap, count]` pairs, flattened, one per non-empty bucket in ascending order.
    pub buckets: Vec<u64>,
}

impl HistogramData {
    fn encode(bits: u32, max_us: u64, buckets: impl Iterator<Item = Bucket>) -> Self {
        let mut flat = Vec::new();
        let mut previous = 0usize;
        for bucket in buckets {
            let at = index(bits, bucket.low_us);
            flat.push((at - previous) as u64);
            flat.push(bucket.count);
            previous = at;
        }
        HistogramData {
            bits,
            max_us,
            buckets: flat,
        }
    }

    /// Each bucket's lowest value and count, checked against the layout `bits`.
    fn decode(&self, bits: u32) -> Result<Vec<(u64, u64)>, String> {
        if self.bits != bits {
            return Err(format!(
                "histogram has {} sub-bucket bits, expected {bits}",
                self.bits
            ));
        }
        if self.buckets.len() % 2 != 0 {
            return Err("histogram buckets must be [gap, count] pairs".to_owned());
        }
        let limit = max_index(bits) as u64;
        let mut at = 0u64;
        let mut out = Vec::with_capacity(self.buckets.len() / 2);
        for pair in self.buckets.chunks_exact(2) {
            let (gap, count) = (pair[0], pair[1]);
            at = at
                .checked_add(gap)
                .filter(|at| *at <= limit)
                .ok_or_else(|| format!("histogram bucket index beyond {limit}"))?;
            out.push((super::bounds(bits, at as usize).0, count));
        }
        Ok(out)
    }
}

fn fill(pairs: Vec<(u64, u64)>, mut record: impl FnMut(u64, u32)) {
    for (value, count) in pairs {
        let mut left = count;
        while left > 0 {
            let n = u32::try_from(left).unwrap_or(u32::MAX);
            record(value, n);
            left -= u64::from(n);
        }
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HistogramData::encode(FULL_BITS, self.max_us(), self.buckets()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let data = HistogramData::deserialize(deserializer)?;
        let pairs = data.decode(FULL_BITS).map_err(serde::de::Error::custom)?;
        let mut histogram = Histogram::new();
        fill(pairs, |value, n| histogram.record_n(value, n));
        // The recorded maximum is finer than a bucket's lowest value; keep it when consistent.
        histogram.raise_max(data.max_us);
        Ok(histogram)
    }
}

impl Serialize for CompactHistogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HistogramData::encode(COMPACT_BITS, self.max_us(), self.buckets()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactHistogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let data = HistogramData::deserialize(deserializer)?;
        let pairs = data
            .decode(COMPACT_BITS)
            .map_err(serde::de::Error::custom)?;
        let mut histogram = CompactHistogram::new();
        fill(pairs, |value, n| histogram.record_n(value, n));
        histogram.raise_max(data.max_us);
        Ok(histogram)
    }
}
