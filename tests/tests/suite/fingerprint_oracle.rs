//! The oracle: pgscope's grouping against pg_stat_statements' `queryid` grouping.
//!
//! A throw-away cluster with `pg_stat_statements` preloaded runs `tests/data/fingerprint_corpus.sql`
//! (a few hundred statements: pgbench's, ORM joins, CTEs, window functions, JSON, writes, a job
//! queue, DDL and utility) one statement at a time over the simple protocol, so the server sees
//! the literals. Before each statement the test resets pg_stat_statements, after it reads the one
//! entry the statement made: that is its `queryid`. Then, for every pair of statements, "same
//! group" per pgscope must equal "same group" per the server — except where pgscope differs on
//! purpose (see pgscope-fingerprint's crate docs). Each such difference must be explained by one
//! of [`Category`]; three are recognized mechanically, the others by a `-- expect: CATEGORY`
//! comment above a statement in the corpus. Differences are counted and printed per category.

use std::collections::BTreeMap;

use pgscope_fingerprint::{analyze, split_statements, Analysis};
use pgscope_tests::{Cluster, ClusterOptions};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const CORPUS: &str = include_str!("../../data/fingerprint_corpus.sql");

/// Why pgscope and pg_stat_statements may group a pair of statements differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    /// pgscope merges IN-lists / `ARRAY[…]` of constants of any length (recognized by the list mark).
    InList,
    /// pgscope merges multi-row `VALUES` of one row shape (recognized by the VALUES annotation).
    ValuesRows,
    /// PostgreSQL ≤ 15 keys utility statements by exact text; pgscope normalizes them
    /// (recognized by both operations being non-DML).
    UtilityText,
    /// The server ignores column and table aliases; pgscope sees them (tag `alias`).
    Alias,
    /// The server resolves `public.users` and `users` to one table (tag `schema`).
    Schema,
    /// The server expands `SELECT *` to the column list (tag `star`).
    Star,
    /// Syntax the parser erases: redundant parentheses, `CAST` vs `::`, type synonyms,
    /// `'…'::interval` vs `interval '…'`, `FETCH FIRST` vs `LIMIT`, `GROUP BY 1` vs the column
    /// (tag `equivalent-syntax`).
    EquivalentSyntax,
    /// The server keys constants by type (`SELECT 1` vs `SELECT 'one'`) (tag `constant-type`).
    ConstantType,
}

impl Category {
    fn from_tag(tag: &str) -> Category {
        match tag {
            "in-list" => Category::InList,
            "values-rows" => Category::ValuesRows,
            "alias" => Category::Alias,
            "schema" => Category::Schema,
            "star" => Category::Star,
            "equivalent-syntax" => Category::EquivalentSyntax,
            "constant-type" => Category::ConstantType,
            other => panic!("unknown `-- expect:` category {other:?} in the corpus"),
        }
    }

    /// Whether pgscope is the side that merges (else the server merges and pgscope splits).
    fn pgscope_merges(self) -> bool {
        matches!(
            self,
            Category::InList
                | Category::ValuesRows
                | Category::UtilityText
                | Category::ConstantType
        )
    }
}

/// One corpus statement and what each side made of it.
struct Sample {
    sql: String,
    tags: Vec<Category>,
    ours: Analysis,
    queryid: String,
}

impl Sample {
    /// Whether the normalized text shows a collapsed IN-list or `ARRAY[…]`.
    fn has_list_mark(&self) -> bool {
        self.ours.normalized.contains(" /*, ... */)")
            || self.ours.normalized.contains(" /*, ... */]")
    }

    /// Whether the normalized text shows collapsed `VALUES` rows.
    fn has_values_mark(&self) -> bool {
        self.ours.normalized.contains(") /*, ... */")
    }
}

fn tags_of(statement: &str) -> Vec<Category> {
    statement
        .lines()
        .filter_map(|line| line.trim().strip_prefix("-- expect:"))
        .flat_map(|tags| tags.split(','))
        .map(|tag| Category::from_tag(tag.trim()))
        .collect()
}

async fn rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("").to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Runs every corpus statement and returns what the server's queryid was for each.
async fn run_corpus(client: &Client) -> Vec<Sample> {
    let mut samples = Vec::new();
    for statement in split_statements(CORPUS) {
        rows(client, "SELECT pg_stat_statements_reset()").await;
        if let Err(e) = client.batch_execute(statement).await {
            panic!("corpus statement failed: {statement}\n{e:?}");
        }
        let entries = rows(
            client,
            "SELECT queryid::text, query FROM pg_stat_statements \
             WHERE query NOT LIKE 'SELECT pg_stat_statements_reset()%'",
        )
        .await;
        let [entry] = entries.as_slice() else {
            panic!("expected one pg_stat_statements entry for {statement:?}, got {entries:?}");
        };
        samples.push(Sample {
            sql: statement.to_owned(),
            tags: tags_of(statement),
            ours: analyze(statement),
            queryid: entry.first().cloned().unwrap_or_default(),
        });
    }
    samples
}

/// The category explaining why `a` and `b` are grouped differently, if any.
fn explain(a: &Sample, b: &Sample, pgscope_merges: bool) -> Option<Category> {
    if pgscope_merges {
        if !a.ours.operation.is_dml() && !b.ours.operation.is_dml() {
            return Some(Category::UtilityText);
        }
        if a.has_list_mark() && b.has_list_mark() {
            return Some(Category::InList);
        }
        if a.has_values_mark() || b.has_values_mark() {
            return Some(Category::ValuesRows);
        }
    }
    a.tags
        .iter()
        .chain(&b.tags)
        .copied()
        .find(|c| c.pgscope_merges() == pgscope_merges)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouping_matches_pg_stat_statements_except_documented_differences() {
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![
            (
                "shared_preload_libraries".into(),
                "pg_stat_statements".into(),
            ),
            ("pg_stat_statements.track_utility".into(), "on".into()),
        ],
        ..Default::default()
    });
    let (client, connection) = tokio_postgres::connect(&cluster.url(), NoTls)
        .await
        .expect("connect to the cluster");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .expect("create extension");

    let samples = run_corpus(&client).await;
    assert!(
        samples.len() >= 250,
        "corpus has only {} statements",
        samples.len()
    );

    let mut explained: BTreeMap<Category, usize> = BTreeMap::new();
    let mut tags_used: Vec<bool> = vec![false; samples.len()];
    let mut unexplained = Vec::new();
    let (mut merged_by_both, mut split_by_both) = (0usize, 0usize);
    for (i, a) in samples.iter().enumerate() {
        for (j, b) in samples.iter().enumerate().skip(i + 1) {
            let ours = a.ours.fingerprint == b.ours.fingerprint;
            let server = a.queryid == b.queryid;
            match (ours, server) {
                (true, true) => merged_by_both += 1,
                (false, false) => split_by_both += 1,
                _ => match explain(a, b, ours) {
                    Some(category) => {
                        *explained.entry(category).or_default() += 1;
                        for (k, s) in [(i, a), (j, b)] {
                            if s.tags.contains(&category) {
                                tags_used[k] = true;
                            }
                        }
                    }
                    None => unexplained.push(format!(
                        "{}:\n    {}\n    -> {}\n    {}\n    -> {}",
                        if ours {
                            "pgscope merges, the server splits"
                        } else {
                            "the server merges, pgscope splits"
                        },
                        a.sql.trim(),
                        a.ours.normalized,
                        b.sql.trim(),
                        b.ours.normalized,
                    )),
                },
            }
        }
    }

    eprintln!(
        "{} statements; pairs merged by both: {merged_by_both}; split by both: {split_by_both}",
        samples.len()
    );
    for (category, count) in &explained {
        eprintln!("  deliberate difference {category:?}: {count} pairs");
    }
    assert!(
        unexplained.is_empty(),
        "{} pairs grouped differently without a documented reason:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    let stale: Vec<&str> = samples
        .iter()
        .zip(&tags_used)
        .filter(|(s, used)| !s.tags.is_empty() && !**used)
        .map(|(s, _)| s.sql.trim())
        .collect();
    assert!(
        stale.is_empty(),
        "`-- expect:` tags with no difference to explain:\n{}",
        stale.join("\n")
    );
    assert!(
        merged_by_both >= 100,
        "too few merges to be a test: {merged_by_both}"
    );
    for category in [
        Category::InList,
        Category::ValuesRows,
        Category::UtilityText,
    ] {
        assert!(
            explained.contains_key(&category),
            "no {category:?} difference exercised"
        );
    }
}
