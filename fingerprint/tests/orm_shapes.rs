//! What ORMs generate per call — savepoint, cursor and prepared-statement names, row-value
//! IN lists, bulk-update `CASE` arms — merges; what changes a query's meaning stays apart.

use pgscope_fingerprint::{analyze, fingerprint, Operation};

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
fn generated_savepoint_names_merge_per_command() {
    merge(r#"SAVEPOINT "s140234_x1""#, r#"SAVEPOINT "s140234_x2""#);
    merge("SAVEPOINT sa_savepoint_1", r#"SAVEPOINT "s9_x7""#);
    merge(
        r#"SAVEPOINT "2b6c7d0e-6b2f-4c44-9f0e-1a2b3c4d5e6f-sp-1""#,
        "SAVEPOINT sa_savepoint_12",
    );
    merge("RELEASE SAVEPOINT sa_savepoint_1", r#"RELEASE "s1_x2""#);
    for spelling in [
        "ROLLBACK TO sp",
        "ROLLBACK TO SAVEPOINT sp",
        "ROLLBACK TRANSACTION TO SAVEPOINT sp",
        "ROLLBACK WORK TO other_sp",
    ] {
        merge("ROLLBACK TO SAVEPOINT sa_savepoint_3", spelling);
    }
    apart("SAVEPOINT a", "RELEASE SAVEPOINT a");
    apart("RELEASE SAVEPOINT a", "ROLLBACK TO SAVEPOINT a");
    apart("ROLLBACK TO SAVEPOINT a", "ROLLBACK");
}

#[test]
fn generated_cursor_names_merge_but_the_cursor_query_counts() {
    let declare = |name: &str, id: u32| {
        format!(
            r#"DECLARE "{name}" NO SCROLL CURSOR WITH HOLD FOR SELECT "app_item"."id" FROM "app_item" WHERE "app_item"."id" > {id}"#
        )
    };
    merge(
        &declare("_django_curs_140234_sync_1", 5),
        &declare("_django_curs_140987_sync_22", 7),
    );
    apart(
        &declare("_django_curs_1_sync_1", 5),
        r#"DECLARE "_django_curs_1_sync_1" NO SCROLL CURSOR WITH HOLD FOR SELECT "app_item"."name" FROM "app_item""#,
    );
    apart(
        "DECLARE c CURSOR FOR SELECT a FROM t",
        "DECLARE c CURSOR WITH HOLD FOR SELECT a FROM t",
    );
    merge(
        r#"FETCH FORWARD 2000 FROM "_django_curs_1_sync_1""#,
        r#"FETCH FORWARD 100 FROM "_django_curs_2_sync_9""#,
    );
    merge(
        "FETCH FORWARD 5 FROM c_7f9e0a_5",
        "fetch forward 9 in c_1_2",
    );
    apart("FETCH FORWARD 5 FROM c", "FETCH BACKWARD 5 FROM c");
    apart("FETCH FORWARD 5 FROM c", "MOVE FORWARD 5 FROM c");
    merge(r#"CLOSE "_django_curs_1_sync_1""#, "CLOSE c_7f9e0a_5");
    apart("CLOSE c", "CLOSE ALL");
}

#[test]
fn prepared_statement_names_merge_and_the_inner_query_counts() {
    merge(
        "PREPARE _pg3_1 AS SELECT * FROM t WHERE id = $1",
        "PREPARE _pg3_10 AS SELECT * FROM t WHERE id = $1",
    );
    apart(
        "PREPARE q AS SELECT * FROM t WHERE id = $1",
        "PREPARE q AS SELECT * FROM u WHERE id = $1",
    );
    apart(
        "PREPARE q AS SELECT * FROM t WHERE id = $1",
        "SELECT * FROM t WHERE id = $1",
    );
    merge("EXECUTE _pg3_1(5)", "EXECUTE _pg3_2(7)");
    apart("EXECUTE q(5)", "EXECUTE q(5, 6)");
    merge("DEALLOCATE _pg3_10", "DEALLOCATE PREPARE _pg3_11");
    merge("DEALLOCATE ALL", "DEALLOCATE PREPARE ALL");
    apart("DEALLOCATE _pg3_10", "DEALLOCATE ALL");
    assert_eq!(
        analyze("PREPARE q AS SELECT 1").operation,
        Operation::Prepare
    );
}

#[test]
fn two_phase_commit_ids_merge_per_command() {
    merge("PREPARE TRANSACTION 'gid-1'", "PREPARE TRANSACTION 'other'");
    merge("COMMIT PREPARED 'gid-1'", "COMMIT PREPARED 'x'");
    merge("ROLLBACK PREPARED 'gid-1'", "ROLLBACK PREPARED 'x'");
    apart("COMMIT PREPARED 'x'", "ROLLBACK PREPARED 'x'");
    apart("PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'");
}

#[test]
fn row_value_in_lists_merge_whatever_their_length() {
    let base = "SELECT * FROM t WHERE (a, b) IN ((1, 'x'))";
    merge(
        base,
        "SELECT * FROM t WHERE (a, b) IN ((1, 'x'), (2, 'y'), (3, 'z'))",
    );
    merge(
        base,
        "SELECT * FROM t WHERE (a, b) IN (($1::INTEGER, $2::VARCHAR), ($3::INTEGER, $4::VARCHAR))",
    );
    apart(
        base,
        "SELECT * FROM t WHERE (a, b) NOT IN ((1, 'x'), (2, 'y'))",
    );
    apart(base, "SELECT * FROM t WHERE (a, c) IN ((1, 'x'), (2, 'y'))");
    apart(base, "SELECT * FROM t WHERE (a, b, c) IN ((1, 'x', 2))");
    merge(
        "SELECT * FROM t WHERE (a, b) IN (VALUES (1, 'x'))",
        "SELECT * FROM t WHERE (a, b) IN (VALUES (1, 'x'), (2, 'y'))",
    );
    merge(
        "INSERT INTO t (p, q) VALUES ((1, 2), 3)",
        "INSERT INTO t (p, q) VALUES ((1, 2), 3), ((4, 5), 6), ((7, 8), 9)",
    );
    merge(
        "INSERT INTO t VALUES (ROW(1, 'a'))",
        "INSERT INTO t VALUES (ROW(1, 'a')), (ROW(2, 'b'))",
    );
}

#[test]
fn bulk_update_case_arms_merge_whatever_the_batch_size() {
    let batch = |ids: &[u32]| {
        let arms: String = ids
            .iter()
            .map(|id| format!(r#" WHEN ("app_item"."id" = {id}) THEN 'name {id}'"#))
            .collect();
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        format!(
            r#"UPDATE "app_item" SET "name" = CASE{arms} ELSE NULL END WHERE "app_item"."id" IN ({})"#,
            list.join(", ")
        )
    };
    merge(&batch(&[1]), &batch(&[1, 2, 3]));
    merge(&batch(&[4, 5]), &batch(&(1..100).collect::<Vec<_>>()));
    apart(
        "SELECT CASE WHEN a = 1 THEN 'x' WHEN a = 2 THEN 'y' END FROM t",
        "SELECT CASE WHEN a = 1 THEN 'x' WHEN b = 2 THEN 'y' END FROM t",
    );
    apart(
        "SELECT CASE WHEN a = 1 THEN 'x' END FROM t",
        "SELECT CASE WHEN a = 1 THEN 'x' ELSE 'y' END FROM t",
    );
    apart(
        "SELECT CASE WHEN a = 1 THEN 'x' WHEN a > 1 THEN 'y' END FROM t",
        "SELECT CASE WHEN a = 1 THEN 'x' END FROM t",
    );
    apart(
        "SELECT CASE WHEN a = 1 THEN b END FROM t",
        "SELECT CASE WHEN a = 1 THEN c END FROM t",
    );
}

#[test]
fn what_changes_the_meaning_stays_apart() {
    let base = "SELECT id FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY id";
    for other in [
        "SELECT id FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY id DESC",
        "SELECT name FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a = 1 OR b IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a = 1 AND b NOT IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a >= 1 AND b IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a > 1 AND b IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a IS NULL AND b IN (1, 2) ORDER BY id",
        "SELECT id FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY id FOR UPDATE",
        "SELECT DISTINCT id FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY id",
        "SELECT id FROM u WHERE a = 1 AND b IN (1, 2) ORDER BY id",
    ] {
        apart(base, other);
    }
    apart(
        "DECLARE c CURSOR FOR SELECT id FROM t",
        "DECLARE c CURSOR FOR SELECT id FROM u",
    );
}

#[test]
fn normalized_text_of_each_rule_normalizes_to_the_same_fingerprint() {
    for sql in [
        r#"SAVEPOINT "s1_x1"; RELEASE sa_savepoint_2; ROLLBACK TRANSACTION TO x"#,
        r#"DECLARE "c" SCROLL CURSOR FOR SELECT 1 FROM t WHERE a IN (1, 2); FETCH 5 IN "c"; CLOSE "c""#,
        "PREPARE p (int, text) AS UPDATE t SET a = $2 WHERE id = $1; EXECUTE p(1, 'x'); DEALLOCATE p",
        "SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4)) AND c = CASE WHEN d = 1 THEN 2 WHEN d = 3 THEN 4 END",
        "UPDATE t SET v = CASE WHEN (id = 1) THEN CASE WHEN x THEN 1 WHEN x THEN 2 END WHEN (id = 2) THEN CASE WHEN x THEN 3 END END",
        "INSERT INTO t VALUES (CASE WHEN a = 1 THEN 2 WHEN a = 3 THEN 4 END), (CASE WHEN a = 5 THEN 6 END)",
    ] {
        let (fp, text) = fingerprint(sql);
        let (again, text_again) = fingerprint(&text);
        assert_eq!(fp, again, "{sql}\n  -> {text}\n  -> {text_again}");
    }
}
