//! [`Histogram`]: three significant digits; counters kept sparse while few buckets are hit,
//! then in pages allocated on first use.

use super::{
    add_checked, bounds, halve, index, quantile_of, quantiles_of, Bucket, FULL_BITS, MAX_US,
};

/// Counters per page: 64 × `u32` = 256 bytes.
pub const PAGE: usize = 64;

/// Most buckets kept in the sparse form (8 bytes each, 4 KiB); one more turns it paged.
pub const SPARSE_MAX: usize = 512;

type Page = Box<[u32; PAGE]>;

/// Where the counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Store {
    /// `(bucket index, count)` sorted by index: a query whose latencies hit few buckets costs
    /// 8 bytes per bucket.
    Sparse(Vec<(u16, u32)>),
    /// Page `i` holds buckets `i * PAGE ..`; `None` until one of them is hit. The table is only
    /// as long as the highest page hit. O(1) per record.
    Paged(Vec<Option<Page>>),
}

impl Default for Store {
    fn default() -> Self {
        Store::Sparse(Vec::new())
    }
}

/// A full-precision latency histogram (see the [module](super) documentation).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    store: Store,
    /// Values counted by the buckets (halvings included).
    count: u64,
    /// Largest value recorded, µs.
    max_us: u64,
}

impl PartialEq for Histogram {
    /// Equal when they hold the same counts, whichever form they are kept in.
    fn eq(&self, other: &Histogram) -> bool {
        self.count == other.count
            && self.max_us == other.max_us
            && self.buckets().eq(other.buckets())
    }
}

impl Eq for Histogram {}

/// The counter of bucket `at` in `pages`, allocating its page.
fn page_counter(pages: &mut Vec<Option<Page>>, at: usize) -> Option<&mut u32> {
    let (page, slot) = (at / PAGE, at % PAGE);
    if pages.len() <= page {
        pages.resize_with(page + 1, || None);
    }
    let entry = pages.get_mut(page)?;
    entry
        .get_or_insert_with(|| Box::new([0u32; PAGE]))
        .get_mut(slot)
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
        let mut n = n;
        loop {
            if self.add(at, n) {
                self.count += u64::from(n);
                return;
            }
            // Scale everything, the new values included, by one half: the shape is kept and
            // the loop ends (at worst with a counter of 1 plus 1).
            self.halve_all();
            n = n.div_ceil(2);
        }
    }

    /// Adds `n` to bucket `at`; false if its counter would overflow.
    fn add(&mut self, at: usize, n: u32) -> bool {
        if let Store::Sparse(buckets) = &mut self.store {
            // Bucket indexes are below 2^15 (see `max_index`).
            let key = at as u16;
            match buckets.binary_search_by_key(&key, |(i, _)| *i) {
                Ok(found) => {
                    return buckets
                        .get_mut(found)
                        .is_some_and(|b| add_checked(&mut b.1, n))
                }
                Err(slot) if buckets.len() < SPARSE_MAX => {
                    if buckets.len() == buckets.capacity() {
                        buckets.reserve_exact(buckets.len() / 4 + 4);
                    }
                    buckets.insert(slot, (key, n));
                    return true;
                }
                Err(_) => self.make_paged(),
            }
        }
        match &mut self.store {
            Store::Paged(pages) => page_counter(pages, at).is_some_and(|c| add_checked(c, n)),
            Store::Sparse(_) => false,
        }
    }

    fn make_paged(&mut self) {
        if let Store::Sparse(buckets) = &self.store {
            let mut pages = Vec::new();
            for (at, count) in buckets {
                if let Some(counter) = page_counter(&mut pages, usize::from(*at)) {
                    *counter = *count;
                }
            }
            self.store = Store::Paged(pages);
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

    /// Several quantiles at once (one pass), µs; `None` when empty.
    pub fn quantiles<const N: usize>(&self, quantiles: [f64; N]) -> [Option<u64>; N] {
        quantiles_of(self.buckets(), self.count, quantiles, self.max_us)
    }

    /// The non-empty buckets, in ascending order.
    pub fn buckets(&self) -> Box<dyn Iterator<Item = Bucket> + '_> {
        let bucket = |at: usize, count: u32| {
            let (low_us, high_us) = bounds(FULL_BITS, at);
            Bucket {
                low_us,
                high_us,
                count: u64::from(count),
            }
        };
        match &self.store {
            Store::Sparse(buckets) => Box::new(
                buckets
                    .iter()
                    .filter(|(_, count)| *count > 0)
                    .map(move |(at, count)| bucket(usize::from(*at), *count)),
            ),
            Store::Paged(pages) => Box::new(
                pages
                    .iter()
                    .enumerate()
                    .filter_map(|(p, page)| page.as_ref().map(|page| (p, page)))
                    .flat_map(move |(p, page)| {
                        page.iter()
                            .enumerate()
                            .filter(|(_, count)| **count > 0)
                            .map(move |(slot, count)| bucket(p * PAGE + slot, *count))
                    }),
            ),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match &self.store {
            Store::Sparse(buckets) => buckets.capacity() * std::mem::size_of::<(u16, u32)>(),
            Store::Paged(pages) => {
                pages.capacity() * std::mem::size_of::<Option<Page>>()
                    + pages.iter().flatten().count() * std::mem::size_of::<[u32; PAGE]>()
            }
        }
    }

    /// Whether the counters are in pages (past [`SPARSE_MAX`] buckets).
    pub fn is_paged(&self) -> bool {
        matches!(self.store, Store::Paged(_))
    }

    fn halve_all(&mut self) {
        let mut count = 0u64;
        let mut visit = |counter: &mut u32| {
            halve(counter);
            count += u64::from(*counter);
        };
        match &mut self.store {
            Store::Sparse(buckets) => buckets.iter_mut().for_each(|(_, c)| visit(c)),
            Store::Paged(pages) => pages
                .iter_mut()
                .flatten()
                .for_each(|page| page.iter_mut().for_each(&mut visit)),
        }
        self.count = count;
    }
}
