use super::*;

#[test]
fn every_value_lands_in_a_bucket_that_contains_it() {
    for bits in [COMPACT_BITS, FULL_BITS] {
        let mut value = 0u64;
        while value <= MAX_US {
            let at = index(bits, value);
            let (low, high) = bounds(bits, at);
            assert!(
                low <= value && value <= high,
                "bits {bits}: {value} not in [{low}, {high}]"
            );
            value = value * 3 / 2 + 1;
        }
    }
}

#[test]
fn bucket_width_is_within_the_layout_precision() {
    for (bits, limit) in [(FULL_BITS, 0.001), (COMPACT_BITS, 0.0625)] {
        for value in [1u64, 999, 2048, 5_000, 123_457, 9_999_999, MAX_US] {
            let (low, high) = bounds(bits, index(bits, value));
            assert!(
                ((high - low) as f64) / (low.max(1) as f64) <= limit,
                "{value}"
            );
        }
    }
}

#[test]
fn indexes_are_contiguous_and_monotonic() {
    for bits in [COMPACT_BITS, FULL_BITS] {
        let mut previous_high = None;
        for at in 0..=max_index(bits) {
            let (low, high) = bounds(bits, at);
            if let Some(previous) = previous_high {
                assert_eq!(low, previous + 1, "bits {bits} index {at}");
            }
            assert_eq!(index(bits, low), at);
            assert_eq!(index(bits, high), at);
            previous_high = Some(high);
        }
    }
}

#[test]
fn values_above_an_hour_are_clamped() {
    let mut histogram = Histogram::new();
    histogram.record(10 * MAX_US);
    assert_eq!(histogram.max_us(), MAX_US);
    assert_eq!(histogram.quantile(1.0), Some(MAX_US));
}

#[test]
fn full_quantiles_are_within_three_digits() {
    let mut histogram = Histogram::new();
    for value in 1..=100_000u64 {
        histogram.record(value);
    }
    assert_eq!(histogram.count(), 100_000);
    for (q, expected) in [(0.5, 50_000.0), (0.95, 95_000.0), (0.99, 99_000.0)] {
        let got = histogram.quantile(q).unwrap() as f64;
        assert!((got - expected).abs() / expected <= 0.001, "p{q}: {got}");
        assert!(
            got >= expected,
            "a reported quantile is never below the true one"
        );
    }
    assert_eq!(histogram.quantile(1.0), Some(100_000));
}

#[test]
fn compact_quantiles_are_within_its_precision() {
    let mut histogram = CompactHistogram::new();
    for value in (1..=10_000u64).rev() {
        histogram.record(value * 7);
    }
    let p50 = histogram.quantile(0.5).unwrap() as f64;
    assert!((p50 - 35_000.0).abs() / 35_000.0 <= 0.0625, "{p50}");
    assert_eq!(histogram.quantile(1.0), Some(70_000));
}

#[test]
fn empty_histograms_have_no_quantile_and_no_heap() {
    assert_eq!(Histogram::new().quantile(0.5), None);
    assert_eq!(CompactHistogram::new().quantile(0.5), None);
    assert_eq!(Histogram::new().heap_bytes(), 0);
    assert_eq!(CompactHistogram::new().heap_bytes(), 0);
}

#[test]
fn full_histogram_stays_sparse_then_allocates_only_pages_it_hits() {
    let mut histogram = Histogram::new();
    histogram.record(1_000_000);
    assert!(!histogram.is_paged());
    assert!(histogram.heap_bytes() <= 64);
    for value in 0..SPARSE_MAX as u64 {
        histogram.record(value);
    }
    assert!(histogram.is_paged());
    // Pages 0..8 for values below 512, one for 1 s, and a table reaching it.
    let table = index(FULL_BITS, 1_000_000) / PAGE + 1;
    assert_eq!(
        histogram.heap_bytes(),
        9 * PAGE * 4 + table * std::mem::size_of::<usize>()
    );
    assert_eq!(histogram.count(), SPARSE_MAX as u64 + 1);
    assert_eq!(histogram.quantile(1.0), Some(1_000_000));
}

#[test]
fn sparse_and_paged_forms_agree() {
    let mut few = Histogram::new();
    let mut many = Histogram::new();
    for value in 0..2_000u64 {
        many.record(value * 37);
    }
    for value in 0..2_000u64 {
        few.record(value * 37);
        if value == 300 {
            assert!(!few.is_paged());
        }
    }
    assert_eq!(few, many);
    let sparse: Vec<Bucket> = {
        let mut h = Histogram::new();
        h.record_n(5, 3);
        h.record_n(70_000, 2);
        h.buckets().collect()
    };
    assert_eq!(sparse.len(), 2);
    assert_eq!((sparse[0].count, sparse[1].count), (3, 2));
}

#[test]
fn compact_histogram_grows_at_both_ends() {
    let mut histogram = CompactHistogram::new();
    histogram.record(5_000);
    histogram.record(50);
    histogram.record(500_000);
    let values: Vec<u64> = histogram.buckets().map(|b| b.low_us).collect();
    assert_eq!(values.len(), 3);
    assert!(values[0] <= 50 && values[1] <= 5_000 && values[2] <= 500_000);
    assert_eq!(histogram.count(), 3);
}

#[test]
fn merge_adds_counts() {
    let (mut a, mut b) = (Histogram::new(), Histogram::new());
    a.record_n(100, 3);
    b.record_n(100, 2);
    b.record(7_000);
    a.merge(&b);
    assert_eq!(a.count(), 6);
    assert_eq!(a.max_us(), 7_000);
    let (mut c, mut d) = (CompactHistogram::new(), CompactHistogram::new());
    c.record(10);
    d.record_n(20_000, 4);
    c.merge(&d);
    assert_eq!(c.count(), 5);
    assert_eq!(c.quantile(0.5), d.quantile(0.5));
}

#[test]
fn overflowing_a_counter_halves_and_keeps_the_shape() {
    let mut histogram = CompactHistogram::new();
    histogram.record_n(100, 60_000);
    histogram.record_n(1_000, 20_000);
    let before = histogram.quantiles([0.5, 0.9]);
    histogram.record_n(100, 10_000);
    assert_eq!(
        histogram.count(),
        30_000 + 10_000 + 5_000,
        "halved, new values included"
    );
    assert_eq!(histogram.quantiles([0.5, 0.9]), before);
    let mut full = Histogram::new();
    full.record_n(100, u32::MAX);
    full.record(100);
    assert_eq!(full.count(), u64::from(u32::MAX).div_ceil(2) + 1);
    for value in 0..SPARSE_MAX as u64 + 1 {
        full.record(value + 1_000);
    }
    assert!(full.is_paged());
    full.record_n(100, u32::MAX);
    assert!(full.count() < 2 * u64::from(u32::MAX));
}

#[test]
fn serialization_round_trips() {
    let mut full = Histogram::new();
    let mut compact = CompactHistogram::new();
    for value in [0u64, 1, 17, 999, 4_097, 1_234_567, 7_654_321] {
        full.record(value);
        compact.record(value);
    }
    let text = serde_json::to_string(&full).unwrap();
    assert_eq!(serde_json::from_str::<Histogram>(&text).unwrap(), full);
    let text = serde_json::to_string(&compact).unwrap();
    assert_eq!(
        serde_json::from_str::<CompactHistogram>(&text).unwrap(),
        compact
    );
}

#[test]
fn malformed_serialized_histograms_are_errors() {
    let cases = [
        r#"{"bits":4,"max_us":1,"buckets":[1,1]}"#,
        r#"{"bits":10,"max_us":1,"buckets":[1]}"#,
        r#"{"bits":10,"max_us":1,"buckets":[99999999,1]}"#,
        r#"{"bits":10,"max_us":1,"buckets":[18446744073709551615,1,18446744073709551615,1]}"#,
    ];
    for case in cases {
        assert!(serde_json::from_str::<Histogram>(case).is_err(), "{case}");
    }
}

#[test]
fn quantiles_in_one_pass_match_one_at_a_time() {
    let mut full = Histogram::new();
    let mut compact = CompactHistogram::new();
    for value in (1..=5_000u64).map(|v| v * v % 100_003) {
        full.record(value);
        compact.record(value);
    }
    let qs = [0.99, 0.5, 0.95, 1.0];
    assert_eq!(full.quantiles(qs), qs.map(|q| full.quantile(q)));
    assert_eq!(compact.quantiles(qs), qs.map(|q| compact.quantile(q)));
    assert_eq!(Histogram::new().quantiles([0.5]), [None]);
}
