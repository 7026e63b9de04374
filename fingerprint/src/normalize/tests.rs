//! Unit tests of the normalizer, one rule each.

use crate::lexer::ConformingStrings;

fn normalize(sql: &str) -> super::Normalized {
    super::normalize(sql, ConformingStrings::On)
}

fn norm(sql: &str) -> String {
    normalize(sql).text
}

#[test]
fn pgbench_select_normalizes_to_one_placeholder() {
    assert_eq!(
        norm("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"),
        "select abalance from pgbench_accounts where aid = $1"
    );
}

#[test]
fn spacing_is_canonical() {
    assert_eq!(
        norm("select  count( * ),t.a,x[1] from t where a::int=-1 and b in( select 1 )"),
        "select count(*), t.a, x[$1] from t where a::int = $2 and b in (select $3)"
    );
}

#[test]
fn binary_minus_is_kept_and_unary_minus_folds() {
    assert_eq!(norm("select a -1, -2, a - -3"), "select a - $1, $2, a - $3");
    assert_eq!(norm("select x from t limit -1"), "select x from t limit $1");
}

#[test]
fn in_list_and_array_render_one_marked_placeholder() {
    assert_eq!(
        norm("select * from t where id in (1, 2, -3) and a = any(array['x'::text, 'y'])"),
        "select * from t where id in ($1 /*, ... */) and a = any(array[$2 /*, ... */])"
    );
}

#[test]
fn values_rows_with_one_shape_collapse() {
    assert_eq!(
        norm("insert into t (a, b) values (1, 'x'), (2, 'y'), (3, 'z')"),
        "insert into t(a, b) values ($1, $2) /*, ... */"
    );
}

#[test]
fn values_rows_with_different_shapes_are_kept() {
    assert_eq!(
        norm("insert into t values (1, 2), (3, default), (4, default)"),
        "insert into t values ($1, $2), ($3, default) /*, ... */"
    );
}

#[test]
fn order_by_positions_stay_literal() {
    assert_eq!(
        norm("select a, b from t order by 2 desc, 1 limit 10"),
        "select a, b from t order by 2 desc, 1 limit $1"
    );
    assert_eq!(
        norm("select a from t group by 1 having count(*) > 1"),
        "select a from t group by 1 having count(*) > $1"
    );
    assert_eq!(
        norm("select a from t order by a + 1"),
        "select a from t order by a + $1"
    );
}

#[test]
fn quotes_that_change_nothing_are_dropped() {
    assert_eq!(
        norm(r#"select "id", "Name", "user" from "public"."users""#),
        r#"select id, "Name", "user" from public.users"#
    );
}

#[test]
fn boolean_and_null_constants_but_not_is_null() {
    assert_eq!(
        norm("select * from t where a = true and b is null and c is not true and d = null"),
        "select * from t where a = $1 and b is null and c is not true and d = $2"
    );
}

#[test]
fn adjacent_string_literals_are_one_constant() {
    assert_eq!(norm("select 'a'\n'b', 'c'"), "select $1, $2");
}

#[test]
fn trailing_and_repeated_semicolons_vanish() {
    assert_eq!(norm(";select 1;; select 2;;"), "select $1; select $2");
}

#[test]
fn colons_never_glue_into_double_colons() {
    let sql = "select a/::: :: e, x[1:2]";
    let once = norm(sql);
    assert_eq!(once, "select a /:: : ::e, x[$1 : $2]");
    assert_eq!(normalize(&once).fingerprint, normalize(sql).fingerprint);
}

#[test]
fn deeply_nested_values_do_not_recurse_without_bound() {
    let sql = "values (".repeat(10_000) + &")".repeat(10_000);
    assert!(norm(&sql).starts_with("values (values"));
}
