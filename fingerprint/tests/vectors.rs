//! Pinned fingerprints. Users store these ids (reports, baselines, dashboards): if this test
//! fails, the normalizer or the hash changed, and every stored fingerprint just changed with it.
//! Do not update the values unless that is the intent, and then say so in the release notes.

use pgscope_fingerprint::{fingerprint, Fingerprint};

const VECTORS: &[(&str, &str, &str)] = &[
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
        "b08fe32dfe7d665f",
        "select abalance from pgbench_accounts where aid = $1",
    ),
    (
        "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 99",
        "75c71c7f0f302116",
        "update pgbench_accounts set abalance = abalance + $1 where aid = $2",
    ),
    (
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP)",
        "083b3f651d6f2834",
        "insert into pgbench_history(tid, bid, aid, delta, mtime) values ($1, $2, $3, $4, current_timestamp)",
    ),
    (
        "SELECT * FROM users WHERE id IN (1, 2, 3)",
        "20fa1983261dddcc",
        "select * from users where id in ($1 /*, ... */)",
    ),
    ("BEGIN", "32e18bdd62e3391b", "begin"),
    ("", "7c967b1be02a0fb0", ""),
];

#[test]
fn pinned_fingerprints_do_not_change() {
    for (sql, hex, normalized) in VECTORS {
        let (fp, text) = fingerprint(sql);
        assert_eq!(text, *normalized, "normalized text of {sql:?}");
        assert_eq!(fp.to_string(), *hex, "fingerprint of {sql:?}");
        assert_eq!(hex.parse::<Fingerprint>(), Ok(fp));
    }
}

#[test]
fn normalizing_normalized_text_keeps_the_fingerprint() {
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
        "SELECT * FROM users WHERE id IN (1, 2, 3) ORDER BY 2 LIMIT 5",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
        "SELECT a::int, ARRAY[1, 2], -3, 'x' FROM \"T\" WHERE b IS NULL;",
    ] {
        let (fp, text) = fingerprint(sql);
        let (again, _) = fingerprint(&text);
        assert_eq!(fp, again, "{sql:?} -> {text:?}");
    }
}
