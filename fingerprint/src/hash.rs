//! `fp64`: the fixed, seedless 64-bit hash behind every [`Fingerprint`](crate::Fingerprint).
//!
//! The algorithm (pinned by test vectors in `tests/vectors.rs`; changing it changes every
//! fingerprint users have stored, so it must not change):
//!
//! 1. `state = 0x9E37_79B9_7F4A_7C15`.
//! 2. The input is read as little-endian 64-bit words; the last partial word is padded with
//!    zero bytes. For each word `w`: `state = fold(state ^ w, 0xBF58_476D_1CE4_E5B9)`, where
//!    `fold(a, b)` is the 128-bit product `a * b` with its high and low halves XORed.
//! 3. `state = fold(state ^ byte_length, 0x94D0_49BB_1331_11EB)`, then the SplitMix64
//!    finalizer (`x ^= x >> 30; x *= 0xBF58…; x ^= x >> 27; x *= 0x94D0…; x ^= x >> 31`).
//!
//! Mixing in the length makes the zero padding unambiguous. The hasher is streaming: bytes may
//! arrive in any number of slices, and the result depends only on their concatenation.

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xBF58_476D_1CE4_E5B9;
const K2: u64 = 0x94D0_49BB_1331_11EB;

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Streaming `fp64` state. Also usable as a [`std::hash::Hasher`] for hash maps.
#[derive(Debug, Clone)]
pub(crate) struct Fp64 {
    state: u64,
    tail: [u8; 8],
    tail_len: usize,
    total: u64,
}

impl Default for Fp64 {
    fn default() -> Self {
        Fp64 {
            state: SEED,
            tail: [0; 8],
            tail_len: 0,
            total: 0,
        }
    }
}

impl Fp64 {
    /// Feeds `bytes`.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.total = self.total.wrapping_add(bytes.len() as u64);
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            for (slot, byte) in self.tail.iter_mut().skip(self.tail_len).zip(head) {
                *slot = *byte;
            }
            self.tail_len += take;
            bytes = rest;
            if self.tail_len < 8 {
                return;
            }
            self.state = fold(self.state ^ u64::from_le_bytes(self.tail), K1);
            self.tail_len = 0;
        }
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
            self.state = fold(self.state ^ word, K1);
        }
        let rest = chunks.remainder();
        for (slot, byte) in self.tail.iter_mut().zip(rest) {
            *slot = *byte;
        }
        self.tail_len = rest.len();
    }

    /// The hash of everything fed so far.
    pub(crate) fn value(&self) -> u64 {
        let mut state = self.state;
        if self.tail_len > 0 {
            let mut last = [0u8; 8];
            for (slot, byte) in last.iter_mut().zip(self.tail.iter().take(self.tail_len)) {
                *slot = *byte;
            }
            state = fold(state ^ u64::from_le_bytes(last), K1);
        }
        let mut x = fold(state ^ self.total, K2);
        x ^= x >> 30;
        x = x.wrapping_mul(K1);
        x ^= x >> 27;
        x = x.wrapping_mul(K2);
        x ^ (x >> 31)
    }
}

/// `fp64` of one byte string.
pub(crate) fn fp64(bytes: &[u8]) -> u64 {
    let mut hasher = Fp64::default();
    hasher.update(bytes);
    hasher.value()
}

impl std::hash::Hasher for Fp64 {
    fn finish(&self) -> u64 {
        self.value()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// A [`std::hash::BuildHasher`] producing [`Fp64`] (fast, deterministic; used by the caches).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fp64Build;

impl std::hash::BuildHasher for Fp64Build {
    type Hasher = Fp64;

    fn build_hasher(&self) -> Fp64 {
        Fp64::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot_for_every_split() {
        let data = b"select abalance from pgbench_accounts where aid = $1";
        let whole = fp64(data);
        for split in 0..=data.len() {
            for split2 in split..=data.len() {
                let mut h = Fp64::default();
                h.update(&data[..split]);
                h.update(&data[split..split2]);
                h.update(&data[split2..]);
                assert_eq!(h.value(), whole, "split at {split}/{split2}");
            }
        }
    }

    #[test]
    fn trailing_zero_bytes_change_the_hash() {
        assert_ne!(fp64(b"ab"), fp64(b"ab\0"));
        assert_ne!(fp64(b""), fp64(b"\0"));
        assert_ne!(fp64(b"12345678"), fp64(b"12345678\0"));
    }

    #[test]
    fn single_bit_changes_flip_about_half_the_output_bits() {
        let base = b"select * from users where id = $1 and name = $2";
        let h0 = fp64(base);
        let mut total = 0u32;
        let mut n = 0u32;
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut v = base.to_vec();
                v[i] ^= 1 << bit;
                total += (fp64(&v) ^ h0).count_ones();
                n += 1;
            }
        }
        let mean = f64::from(total) / f64::from(n);
        assert!((28.0..36.0).contains(&mean), "mean flipped bits {mean}");
    }
}
