//! Each grouping rule, both ways: statements that must share a fingerprint, and statements
//! that must stay apart.

use pgscope_fingerprint::fingerprint;

#[track_caller]
fn merge(a: &str, b: &str) {
    let (fa, na) = fingerprint(a);
    let (fb, nb) = fingerprint(b);
    assert_eq!(fa, fb, "should merge:\n  {a}\n  -> {na}\n  {b}\n  -> {nb}");
}

#[track_caller]
fn apart(a: &str, b: &str) {
    let (fa, na) = fingerprint(a);
    let (fb, nb) = fingerprint(b);
    assert_ne!(
        fa, fb,
        "should stay apart:\n  {a}\n  -> {na}\n  {b}\n  -> {nb}"
    );
}

#[test]
fn numbers_of_every_form_merge() {
    let base = "SELECT * FROM t WHERE a = 1";
    for other in [
        "1.5",
        "1e10",
        ".5",
        "0x1F",
        "1_000",
        "-7",
        "- 7",
        "99999999999999999999",
    ] {
        merge(base, &format!("SELECT * FROM t WHERE a = {other}"));
    }
}

#[test]
fn strings_of_every_form_merge() {
    let base = "SELECT * FROM t WHERE a = 'x'";
    for other in [
        "'it''s'",
        r"E'it\'s'",
        "N'x'",
        "U&'d\\0061t'",
        "B'1010'",
        "X'1f'",
        "$$x$$",
        "$q$ x; 'y' $q$",
        "'a'\n'b'",
        "$1",
        "$7",
    ] {
        merge(base, &format!("SELECT * FROM t WHERE a = {other}"));
    }
}

#[test]
fn typed_literals_merge_by_value_but_not_by_type() {
    merge("SELECT DATE '2024-01-01'", "select date '1999-12-31'");
    merge("SELECT '1'::int", "SELECT '2'::int");
    merge("SELECT interval '1 day'", "SELECT INTERVAL '2 hours'");
    apart("SELECT DATE '2024-01-01'", "SELECT TIMESTAMP '2024-01-01'");
    apart("SELECT '1'::int", "SELECT '1'::bigint");
}

#[test]
fn booleans_and_null_are_constants_but_tests_are_not() {
    merge("UPDATE t SET a = true", "UPDATE t SET a = false");
    merge("INSERT INTO t VALUES (NULL)", "INSERT INTO t VALUES (42)");
    apart(
        "SELECT * FROM t WHERE a IS NULL",
        "SELECT * FROM t WHERE a IS NOT NULL",
    );
    apart(
        "SELECT * FROM t WHERE a IS TRUE",
        "SELECT * FROM t WHERE a IS FALSE",
    );
    apart(
        "SELECT * FROM t WHERE a IS NULL",
        "SELECT * FROM t WHERE a = NULL",
    );
}

#[test]
fn whitespace_comments_and_case_never_matter() {
    let base = "SELECT a, b FROM users WHERE id = 1 ORDER BY a";
    merge(base, "select A,B from USERS where ID=1 order by A");
    merge(
        base,
        "SELECT\n\ta ,\n\tb\nFROM users -- who\nWHERE id = 1 /* x /* nested */ y */ ORDER BY a",
    );
    merge(
        base,
        "/* leading */ SELECT a, b FROM users WHERE id = 1 ORDER BY a;",
    );
    merge(
        base,
        "SELECT a, b FROM users WHERE id = 1 ORDER BY a /*traceparent='00-abc-def-01'*/",
    );
    merge("SELECT count(*) FROM t", "SELECT count ( * ) FROM t");
}

#[test]
fn identifier_quotes_only_matter_when_they_change_the_name() {
    merge("SELECT id FROM users", r#"SELECT "id" FROM "users""#);
    merge(
        "SELECT id FROM public.users",
        r#"SELECT id FROM "public"."users""#,
    );
    apart("SELECT id FROM users", r#"SELECT id FROM "Users""#);
    merge("SELECT id FROM Users", "SELECT id FROM users");
    apart(r#"SELECT "user" FROM t"#, "SELECT current_user FROM t");
}

#[test]
fn in_lists_of_constants_merge_whatever_their_length() {
    let base = "SELECT * FROM t WHERE id IN (1)";
    merge(base, "SELECT * FROM t WHERE id IN (1, 2, 3)");
    merge(base, "SELECT * FROM t WHERE id IN ($1, $2)");
    merge(base, "SELECT * FROM t WHERE id IN ('a'::text, 'b', -3)");
    merge(
        "SELECT * FROM t WHERE id NOT IN (1, 2)",
        "SELECT * FROM t WHERE id NOT IN (3)",
    );
    apart(base, "SELECT * FROM t WHERE id NOT IN (1)");
    apart(base, "SELECT * FROM t WHERE id IN (1, a)");
    apart(base, "SELECT * FROM t WHERE id IN (SELECT 1)");
    apart(base, "SELECT * FROM t WHERE id = 1");
}

#[test]
fn array_constructors_of_constants_merge_whatever_their_length() {
    merge(
        "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])",
        "SELECT * FROM t WHERE id = ANY(ARRAY[4])",
    );
    apart(
        "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2])",
        "SELECT * FROM t WHERE id = ANY(ARRAY[a, 2])",
    );
}

#[test]
fn values_rows_of_one_shape_merge_whatever_their_count() {
    let one = "INSERT INTO t (a, b) VALUES (1, 'x')";
    merge(one, "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')");
    merge(
        one,
        &format!(
            "INSERT INTO t (a, b) VALUES {}",
            vec!["(1, 'x')"; 500].join(", ")
        ),
    );
    apart(one, "INSERT INTO t (a, b) VALUES (1, 'x'), (2, DEFAULT)");
    apart(one, "INSERT INTO t (a, c) VALUES (1, 'x')");
    apart(
        one,
        "INSERT INTO t (a, b) VALUES (1, 'x') ON CONFLICT DO NOTHING",
    );
}

#[test]
fn columns_tables_and_operators_stay_apart() {
    let base = "SELECT a FROM t WHERE b = 1";
    apart(base, "SELECT c FROM t WHERE b = 1");
    apart(base, "SELECT a FROM u WHERE b = 1");
    apart(base, "SELECT a FROM s.t WHERE b = 1");
    apart(base, "SELECT a FROM t WHERE b > 1");
    apart(base, "SELECT a FROM t WHERE b = 1 LIMIT 10");
    apart(base, "SELECT a FROM t WHERE b = 1 AND c = 2");
    apart(base, "SELECT a FROM t WHERE b = -a");
    apart("SELECT a - 1 FROM t", "SELECT a + 1 FROM t");
    apart("SELECT a - 1 FROM t", "SELECT a, -1 FROM t");
    apart("SELECT lower(a) FROM t", "SELECT upper(a) FROM t");
    apart("SELECT a AS x FROM t", "SELECT a AS y FROM t");
}

#[test]
fn limits_merge_by_value_but_not_by_presence() {
    merge("SELECT a FROM t LIMIT 10", "SELECT a FROM t LIMIT 500");
    merge(
        "SELECT a FROM t LIMIT 10 OFFSET 20",
        "SELECT a FROM t LIMIT 1 OFFSET 0",
    );
    apart(
        "SELECT a FROM t LIMIT 10",
        "SELECT a FROM t LIMIT 10 OFFSET 5",
    );
}

#[test]
fn order_by_positions_are_not_constants() {
    apart(
        "SELECT a, b FROM t ORDER BY 1",
        "SELECT a, b FROM t ORDER BY 2",
    );
    apart(
        "SELECT a, b FROM t GROUP BY 1, 2",
        "SELECT a, b FROM t GROUP BY 2, 1",
    );
    merge(
        "SELECT a FROM t ORDER BY a + 1",
        "SELECT a FROM t ORDER BY a + 2",
    );
    merge(
        "SELECT a FROM t ORDER BY 1 LIMIT 5",
        "SELECT a FROM t ORDER BY 1 LIMIT 6",
    );
}

#[test]
fn syntax_the_parser_erases_merges() {
    merge(
        "SELECT * FROM a JOIN b ON a.id = b.id",
        "SELECT * FROM a INNER JOIN b ON a.id = b.id",
    );
    merge(
        "SELECT * FROM a LEFT JOIN b ON a.id = b.id",
        "SELECT * FROM a LEFT OUTER JOIN b ON a.id = b.id",
    );
    merge(
        "SELECT a FROM t ORDER BY a",
        "SELECT a FROM t ORDER BY a ASC",
    );
    apart(
        "SELECT a FROM t ORDER BY a",
        "SELECT a FROM t ORDER BY a DESC",
    );
    merge(
        "SELECT * FROM t WHERE a != 1",
        "SELECT * FROM t WHERE a <> 1",
    );
    merge("SELECT 1", "SELECT 1;;");
}

#[test]
fn postgres_syntax_sqlparser_may_not_know_still_groups() {
    merge(
        "DO $$ BEGIN PERFORM 1; END $$",
        "DO $body$ BEGIN PERFORM 2; END $body$",
    );
    merge(
        "COPY t (a, b) FROM STDIN WITH (FORMAT csv)",
        "copy t(a,b) from stdin with (format csv)",
    );
    merge(
        "CREATE INDEX CONCURRENTLY i ON t (a) WHERE b > 5",
        "create index concurrently i on t(a) where b > 6",
    );
    merge("VACUUM (ANALYZE) t", "vacuum (analyze) t");
    merge(
        "SELECT id FROM jobs WHERE state = 'new' LIMIT 1 FOR UPDATE SKIP LOCKED",
        "SELECT id FROM jobs WHERE state = 'old' LIMIT 9 FOR UPDATE SKIP LOCKED",
    );
    apart(
        "SELECT id FROM jobs LIMIT 1 FOR UPDATE SKIP LOCKED",
        "SELECT id FROM jobs LIMIT 1 FOR UPDATE NOWAIT",
    );
    merge(
        "SELECT data->>'name' FROM t WHERE data @> '{\"a\":1}'",
        "SELECT data ->> 'x' FROM t WHERE data@>'{}'",
    );
    merge(
        "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.x = a.x LIMIT 3) s",
        "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.x = a.x LIMIT 4) s",
    );
    merge(
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET n = t.n + 1",
        "INSERT INTO t (a) VALUES (2) ON CONFLICT (a) DO UPDATE SET n = t.n + 5",
    );
    merge("SET work_mem = '64MB'", "SET work_mem = '4MB'");
    apart("SET work_mem = '64MB'", "SET maintenance_work_mem = '64MB'");
}

#[test]
fn unterminated_input_still_gets_a_fingerprint() {
    merge("SELECT 'abc", "SELECT 'xyz");
    merge("SELECT 1 /* open", "SELECT 2 /* other");
    apart("SELECT \"abc", "SELECT \"xyz");
}
