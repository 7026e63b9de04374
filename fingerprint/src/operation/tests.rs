//! What each statement is classified as, and which operations write.

use super::*;

#[test]
fn leading_keywords_decide_the_operation() {
    let cases = [
        ("SELECT 1", "SELECT"),
        ("(select 1) union (select 2)", "SELECT"),
        ("insert into t values (1)", "INSERT"),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", "UPDATE"),
        (
            "with recursive r(n) as (select 1 union all select n+1 from r) select * from r",
            "SELECT",
        ),
        (
            "with d as (delete from t returning *) insert into u select * from d",
            "INSERT",
        ),
        ("begin", "BEGIN"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN"),
        ("end", "COMMIT"),
        ("abort", "ROLLBACK"),
        ("prepare transaction 'x'", "PREPARE TRANSACTION"),
        ("prepare q as select 1", "PREPARE"),
        (
            "create unique index concurrently i on t (a)",
            "CREATE INDEX",
        ),
        (
            "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
            "CREATE FUNCTION",
        ),
        ("create temp table t (a int)", "CREATE TABLE"),
        (
            "create materialized view v as select 1",
            "CREATE MATERIALIZED VIEW",
        ),
        ("drop table if exists t", "DROP TABLE"),
        ("alter table t add column b int", "ALTER TABLE"),
        ("create foreign table f (a int) server s", "CREATE TABLE"),
        ("refresh materialized view v", "REFRESH MATERIALIZED VIEW"),
        ("vacuum (verbose) t", "VACUUM"),
        ("do $$ begin end $$", "DO"),
        ("", "OTHER"),
        ("frobnicate", "OTHER"),
    ];
    for (sql, want) in cases {
        assert_eq!(detect(sql).as_str(), want, "{sql}");
    }
}

#[test]
fn only_row_statements_are_dml() {
    assert!(Operation::Merge.is_dml());
    assert!(!Operation::Create(ObjectKind::Table).is_dml());
    assert!(!Operation::Copy.is_dml());
}

#[test]
fn writes_are_what_a_read_only_replica_refuses_and_reads_are_not() {
    for sql in [
        "insert into t values (1)",
        "update t set a = 1",
        "delete from t",
        "copy t from stdin",
        "create index i on t (a)",
        "truncate t",
        "call p()",
        "do $$ begin end $$",
        "frobnicate",
    ] {
        assert!(detect(sql).writes(), "{sql}");
    }
    for sql in [
        "select 1",
        "begin",
        "commit",
        "set search_path = x",
        "show all",
        "fetch 10 from c",
        "explain select 1",
    ] {
        assert!(!detect(sql).writes(), "{sql}");
    }
}
