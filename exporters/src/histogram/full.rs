//! [`Histogram`]: three significant digits, counters in pages allocated on first use.

use super::{add_checked, bounds, halve, index, quantile_of, Bucket, FULL_BITS, MAX_US};

/// Counters per page: 64 × `u32` = 256 bytes.
pub const PAGE: usize = 64;

type Page = Box<[u32; PAGE]>;

/// A full-precision latency histogram (see the [module](super) documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Page `i` holds buckets `i * PAGE ..`; `None` until one of them is hit. The table is only
    /// as long as the highest page hit.
    pages: Vec<Option<Page>>,
    /// Values counted by the buckets (halvings included).
    count: u64,
    /// Largest value recorded, µs.
    max_us: u64,
}

impl Histogram {
    /// An empty histogram; allocates nothing.
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
        let at = index(FULL_BITS, value_us);
        let (page, slot) = (at / PAGE, at % PAGE);
        if self.pages.len() <= page {
            self.pages.resize_with(page + 1, || None);
        }
        loop {
            let counters = self
                .pages
                .get_mut(page)
                .and_then(Option::as_mut)
                .map(|p| &mut p[slot]);
            let added = match counters {
                Some(counter) => add_checked(counter, n),
                None => {
                    let mut fresh = Box::new([0u32; PAGE]);
                    fresh[slot] = n;
                    if let Some(entry) = self.pages.get_mut(page) {
                        *entry = Some(fresh);
                    }
                    true
                }
            };
            if added {
                self.count += u64::from(n);
                return;
            }
            self.halve_all();
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
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
            && index(FULL_BITS, max_us) == index(FULL_BITS, self.max_us)
        {
            self.max_us = max_us;
        }
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

    /// The nearest-rank quantile (`0.5`, `0.99` …), µs; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<u64> {
        quantile_of(self.buckets(), self.count, quantile, self.max_us)
    }

    /// The non-empty buckets, in ascending order.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.pages
            .iter()
            .enumerate()
            .filter_map(|(p, page)| page.as_ref().map(|page| (p, page)))
            .flat_map(|(p, page)| {
                page.iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(move |(slot, count)| {
                        let (low_us, high_us) = bounds(FULL_BITS, p * PAGE + slot);
                        Bucket {
                            low_us,
                            high_us,
                            count: u64::from(*count),
                        }
                    })
            })
    }

    /// Heap bytes held (pages and the page table).
    pub fn heap_bytes(&self) -> usize {
        let pages = self.pages.iter().flatten().count();
        self.pages.capacity() * std::mem::size_of::<Option<Page>>()
            + pages * std::mem::size_of::<[u32; PAGE]>()
    }

    fn halve_all(&mut self) {
        let mut count = 0u64;
        for page in self.pages.iter_mut().flatten() {
            for counter in page.iter_mut() {
                halve(counter);
                count += u64::from(*counter);
            }
        }
        self.count = count;
    }
}
