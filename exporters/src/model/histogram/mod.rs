//! Latency histograms in integer microseconds, in HDR's log-linear bucket layout, with two
//! storages tuned for memory.
//!
//! # Layout
//!
//! With `S = 2^bits` linear sub-buckets per octave, values below `2S` µs get a bucket each
//! (exact), and each octave `[2^k, 2^(k+1))` above is split into `S` equal buckets, so a
//! bucket's width is at most `1/S` of its values: `bits = 10` gives 1024 per octave, a relative
//! error under 0.1% (three significant digits, as HDR at `sigfig = 3`); `bits = 4` gives 16 per
//! octave (6.25%). Values are clamped to [`MAX_US`] (one hour). A value's bucket is a handful of
//! shifts: recording is O(1).
//!
//! # Storage
//!
//! A dense HDR array at three significant digits over 1 µs–1 h is 23,221 counters (~90 KB as
//! `u32`), which 5000 fingerprints cannot afford, and most of it stays zero: one query's
//! latencies span a few octaves. So:
//!
//! - [`Histogram`] (full precision, the cumulative one) keeps `(bucket, count)` pairs sorted
//!   while at most [`SPARSE_MAX`] buckets are hit (8 bytes each: most query shapes stay here),
//!   then switches to counters in pages of [`PAGE`] allocated on first use, so memory follows
//!   the octaves actually hit and recording stays O(1).
//! - [`CompactHistogram`] (windows) stores one dense run of `u16` counters from the lowest to
//!   the highest bucket seen, growing at either end as values arrive ("auto-resizing").
//!
//! Counters are `u32` ([`Histogram`]) and `u16` ([`CompactHistogram`]: a window rarely counts
//! 65,535 values in one 6%-wide bucket). When one would overflow, every counter of that histogram (and the values
//! being added) is halved, rounding up so no non-empty bucket empties: the distribution's shape
//! — and so every percentile — is kept, while exact call counts live elsewhere ([`crate::QueryStats`]).
//!
//! Percentiles use the nearest-rank definition and report the highest value of the bucket
//! holding that rank, clamped to the recorded maximum, as HDR does: a reported p50 is never
//! below the true one.

mod compact;
mod full;
mod wire;

pub use compact::CompactHistogram;
pub use full::{Histogram, PAGE, SPARSE_MAX};
pub use wire::HistogramData;

/// Largest recordable value: one hour in microseconds. Larger values are recorded as this.
pub const MAX_US: u64 = 3_600_000_000;

/// Sub-bucket bits of [`Histogram`]: 1024 buckets per octave, three significant digits.
pub const FULL_BITS: u32 = 10;

/// Sub-bucket bits of [`CompactHistogram`]: 16 buckets per octave, within 6.25%.
pub const COMPACT_BITS: u32 = 4;

/// The bucket index of `value` (clamped to [`MAX_US`]) with `2^bits` sub-buckets per octave.
pub(crate) fn index(bits: u32, value: u64) -> usize {
    let value = value.min(MAX_US);
    let sub = 1u64 << bits;
    if value < 2 * sub {
        return value as usize;
    }
    let log2 = 63 - value.leading_zeros();
    let shift = log2 - bits;
    ((u64::from(shift) + 1) * sub + ((value >> shift) - sub)) as usize
}

/// The lowest and highest value that land in bucket `index`.
pub(crate) fn bounds(bits: u32, index: usize) -> (u64, u64) {
    let sub = 1usize << bits;
    if index < 2 * sub {
        return (index as u64, index as u64);
    }
    let shift = (index / sub - 1) as u32;
    let low = ((index % sub + sub) as u64) << shift;
    (low, low + (1u64 << shift) - 1)
}

/// The highest bucket index with `2^bits` sub-buckets per octave.
pub(crate) fn max_index(bits: u32) -> usize {
    index(bits, MAX_US)
}

/// One non-empty bucket: the values it holds and how many were recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Lowest value of the bucket, µs.
    pub low_us: u64,
    /// Highest value of the bucket, µs.
    pub high_us: u64,
    /// Values recorded in it.
    pub count: u64,
}

/// The nearest-rank `quantile` (0..=1) of buckets given in ascending order holding `total`
/// values: the highest value of the bucket holding the rank, at most `max_us`.
pub(crate) fn quantile_of(
    buckets: impl Iterator<Item = Bucket>,
    total: u64,
    quantile: f64,
    max_us: u64,
) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for bucket in buckets {
        seen += bucket.count;
        if seen >= rank {
            return Some(bucket.high_us.min(max_us));
        }
    }
    Some(max_us)
}

/// Several nearest-rank quantiles (ascending or not) in one pass over the buckets.
pub(crate) fn quantiles_of<const N: usize>(
    buckets: impl Iterator<Item = Bucket>,
    total: u64,
    quantiles: [f64; N],
    max_us: u64,
) -> [Option<u64>; N] {
    let mut out = [None; N];
    if total == 0 {
        return out;
    }
    let ranks =
        quantiles.map(|q| ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total));
    let mut seen = 0u64;
    let mut left = N;
    for bucket in buckets {
        seen += bucket.count;
        for (slot, rank) in out.iter_mut().zip(ranks) {
            if slot.is_none() && seen >= rank {
                *slot = Some(bucket.high_us.min(max_us));
                left -= 1;
            }
        }
        if left == 0 {
            return out;
        }
    }
    out.map(|q| q.or(Some(max_us)))
}

/// Adds `n` to a counter, reporting whether it would overflow instead of wrapping.
pub(crate) fn add_checked(counter: &mut u32, n: u32) -> bool {
    match counter.checked_add(n) {
        Some(sum) => {
            *counter = sum;
            true
        }
        None => false,
    }
}

/// Halves a counter, rounding up so a non-empty bucket stays non-empty.
pub(crate) fn halve(counter: &mut u32) {
    *counter = counter.div_ceil(2);
}

#[cfg(test)]
mod tests;
