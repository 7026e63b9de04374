//! [`CompactHistogram`]: low precision, one dense run of counters over the buckets seen.

use super::{bounds, index, quantile_of, quantiles_of, Bucket, COMPACT_BITS, MAX_US};

/// A compact latency histogram for time windows (see the [module](super) documentation).
/// Empty, it allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactHistogram {
    /// Bucket index of `counts[0]`.
    offset: u32,
    /// Counters of buckets `offset ..= offset + counts.len() - 1`.
    counts: Vec<u16>,
    /// Values counted (halvings included).
    count: u64,
    /// Largest value recorded, µs.
    max_us: u64,
}

impl CompactHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value in microseconds.
    pub fn record(&mut self, value_us: u64) {
        self.record_n(value_us, 1);
    }

    /// Records `n` occurrences of a value.
    pub fn record_n(&mut self, value_us: u64, n: u32) {
        if n == 0 {
            return;
        }
        let value_us = value_us.min(MAX_US);
        self.max_us = self.max_us.max(value_us);
        // Bucket indexes fit in u32: the highest is a few hundred.
        let at = index(COMPACT_BITS, value_us) as u32;
        if self.counts.is_empty() {
            self.offset = at;
        } else if at < self.offset {
            let grow = (self.offset - at) as usize;
            self.counts.reserve_exact(grow);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = at;
        }
        let slot = (at - self.offset) as usize;
        if self.counts.len() <= slot {
            // Exact growth: windows are many, and most stop growing after a few values.
            self.counts.reserve_exact(slot + 1 - self.counts.len());
            self.counts.resize(slot + 1, 0);
        }
        let mut n = n;
        loop {
            let added = self.counts.get_mut(slot).is_some_and(|counter| {
                match u16::try_from(n).ok().and_then(|n| counter.checked_add(n)) {
                    Some(sum) => {
                        *counter = sum;
                        true
                    }
                    None => false,
                }
            });
            if added {
                self.count += u64::from(n);
                return;
            }
            let mut count = 0u64;
            for counter in &mut self.counts {
                *counter = counter.div_ceil(2);
                count += u64::from(*counter);
            }
            self.count = count;
            // The new values are scaled with the rest, so the loop ends.
            n = n.div_ceil(2);
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &CompactHistogram) {
        for bucket in other.buckets() {
            let mut left = bucket.count;
            while left > 0 {
                let n = u32::try_from(left).unwrap_or(u32::MAX);
                self.record_n(bucket.low_us, n);
                left -= u64::from(n);
            }
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Raises the recorded maximum to `max_us` when that lies in the same bucket as the current
    /// one (a bucket's values are indistinguishable, the true maximum is not).
    pub(crate) fn raise_max(&mut self, max_us: u64) {
        if !self.is_empty()
            && max_us > self.max_us
            && max_us <= MAX_US
            && index(COMPACT_BITS, max_us) == index(COMPACT_BITS, self.max_us)
        {
            self.max_us = max_us;
        }
    }

    /// Empties the histogram, keeping its allocation.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.offset = 0;
        self.count = 0;
        self.max_us = 0;
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest value recorded, µs (0 when empty).
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The nearest-rank quantile, µs; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<u64> {
        quantile_of(self.buckets(), self.count, quantile, self.max_us)
    }

    /// Several quantiles at once (one pass), µs; `None` when empty.
    pub fn quantiles<const N: usize>(&self, quantiles: [f64; N]) -> [Option<u64>; N] {
        quantiles_of(self.buckets(), self.count, quantiles, self.max_us)
    }

    /// The non-empty buckets, in ascending order.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(slot, count)| {
                let (low_us, high_us) = bounds(COMPACT_BITS, self.offset as usize + slot);
                Bucket {
                    low_us,
                    high_us,
                    count: u64::from(*count),
                }
            })
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u16>()
    }
}
