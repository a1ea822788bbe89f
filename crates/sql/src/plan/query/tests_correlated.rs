//! Tests of general decorrelation, the single-row rule of scalar subqueries and set-returning
//! functions in the select list, through the reference evaluator.
//!
//! Data (see `tests::catalog`): t(a, b) = (1,'a') (2,'b') (3,NULL); u(a, c) = (1,10) (1,11)
//! (4,40) (NULL,50); j(id, data) = (1,[1,2]) (2,[]); empty(x) has no rows.

use std::panic::{catch_unwind, AssertUnwindSafe};

use freshet_repr::{Datum, ScalarType};

use super::tests::{catalog, i, l, names, plan, run, sqlstate};
use super::testutil::eval;

fn none() -> Vec<Vec<Datum>> {
    Vec::new()
}

/// Whether evaluating `sql` fails with "more than one row returned by a subquery" (the reference
/// evaluator panics on evaluation errors, with the error in the message).
fn fails_with_multiple_rows(sql: &str) -> bool {
    let (expr, _, _) = plan(sql).unwrap();
    let cat = catalog();
    let result = catch_unwind(AssertUnwindSafe(|| eval(&expr, &cat)));
    match result {
        Ok(_) => false,
        Err(panic) => {
            let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            msg.contains("MultipleRowsFromSubquery")
        }
    }
}

#[test]
fn exists_with_any_correlated_predicate() {
    let sql = "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND u.c > t.a * 10)";
    assert_eq!(run(sql), vec![vec![i(1)]]);
    assert_eq!(run("SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.c > t.a * 20)"), vec![vec![i(3)]]);
    // Inner names shadow outer ones: `a` is u.a here (u.a = 4 = 1 + 3).
    assert_eq!(run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE a = t.a + 3)"), vec![vec![i(1)]]);
    assert_eq!(run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE a = t.a + 5)"), none());
    assert_eq!(run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE a = t.a - 0 AND c < 11)"), vec![vec![i(1)]]);
}

#[test]
fn scalar_subqueries_with_general_correlation() {
    assert_eq!(
        run("SELECT a, (SELECT count(*) FROM u WHERE u.c > t.a * 20) FROM t ORDER BY a"),
        vec![vec![i(1), l(2)], vec![i(2), l(1)], vec![i(3), l(0)]]
    );
    // Outer columns in the subquery's select list.
    assert_eq!(
        run("SELECT a, (SELECT max(c) + t.a FROM u WHERE u.a = t.a) FROM t ORDER BY a"),
        vec![vec![i(1), l(12)], vec![i(2), Datum::Null], vec![i(3), Datum::Null]]
    );
    // A NULL outer value is a value like any other for the subquery (NULL-safe join back).
    assert_eq!(
        run("SELECT a, (SELECT count(*) FROM u WHERE t.b IS NULL) FROM t ORDER BY a"),
        vec![vec![i(1), l(0)], vec![i(2), l(0)], vec![i(3), l(4)]]
    );
    // LIMIT applies per outer row.
    assert_eq!(
        run("SELECT a, (SELECT c FROM u WHERE u.c > t.a * 10 ORDER BY c LIMIT 1) FROM t ORDER BY a"),
        vec![vec![i(1), l(11)], vec![i(2), l(40)], vec![i(3), l(40)]]
    );
    // HAVING reading the outer row.
    assert_eq!(
        run("SELECT a, (SELECT count(*) FROM u GROUP BY u.a HAVING u.a = t.a) FROM t ORDER BY a"),
        vec![vec![i(1), l(2)], vec![i(2), Datum::Null], vec![i(3), Datum::Null]]
    );
}

#[test]
fn in_subqueries_with_general_correlation_and_nulls() {
    // {4, NULL}, {NULL}, {}: NOT IN is NULL, NULL, true.
    assert_eq!(run("SELECT a FROM t WHERE a NOT IN (SELECT u.a FROM u WHERE u.c > t.a * 20)"), vec![vec![i(3)]]);
    assert_eq!(run("SELECT a FROM t WHERE 4 IN (SELECT u.a FROM u WHERE u.c > t.a * 20) ORDER BY a"), vec![vec![i(1)]]);
    // An aggregate's default row reaches outer rows whose correlation value is NULL.
    assert_eq!(
        run("SELECT c FROM u WHERE 0 IN (SELECT count(*) FROM t WHERE t.a = u.a) ORDER BY c"),
        vec![vec![l(40)], vec![l(50)]]
    );
}

#[test]
fn lateral_with_general_correlation_and_null_keys() {
    assert_eq!(
        run("SELECT u.c, s.n FROM u, LATERAL (SELECT count(*) AS n FROM t WHERE t.a = u.a) s ORDER BY 1"),
        vec![vec![l(10), l(1)], vec![l(11), l(1)], vec![l(40), l(0)], vec![l(50), l(0)]]
    );
    assert_eq!(
        run("SELECT t.a, s.m FROM t, LATERAL (SELECT max(c) AS m FROM u WHERE u.c < t.a * 20) s ORDER BY 1"),
        vec![vec![i(1), l(11)], vec![i(2), l(11)], vec![i(3), l(50)]]
    );
}

#[test]
fn correlated_subqueries_in_aggregating_queries_and_nested() {
    assert_eq!(
        run("SELECT a, (SELECT b FROM t WHERE t.a = u.a) FROM u GROUP BY a ORDER BY a"),
        vec![vec![i(1), Datum::text("a")], vec![i(4), Datum::Null], vec![Datum::Null, Datum::Null]]
    );
    assert_eq!(
        run("SELECT a, count(*) FROM u GROUP BY a HAVING NOT EXISTS (SELECT 1 FROM t WHERE t.a < u.a) ORDER BY a"),
        vec![vec![i(1), l(1 + 1)], vec![Datum::Null, l(1)]]
    );
    let nested = "SELECT a FROM t WHERE EXISTS \
                  (SELECT 1 FROM u WHERE EXISTS (SELECT 1 FROM t AS t2 WHERE t2.a = u.a AND t2.a = t.a))";
    assert_eq!(run(nested), vec![vec![i(1)]]);
    // Ungrouped outer columns stay errors.
    assert!(plan("SELECT count(*) FROM u GROUP BY a HAVING EXISTS (SELECT 1 FROM t WHERE t.a = u.c)").is_err());
}

#[test]
fn scalar_subquery_with_several_rows_fails_with_21000() {
    assert!(fails_with_multiple_rows("SELECT a, (SELECT c FROM u WHERE u.a = t.a) FROM t"));
    assert!(fails_with_multiple_rows("SELECT (SELECT c FROM u)"));
    assert!(fails_with_multiple_rows("SELECT a FROM t WHERE a = (SELECT u.a FROM u WHERE u.c > t.a * 10)"));
    // One row or none is fine.
    assert_eq!(
        run("SELECT a, (SELECT c FROM u WHERE u.a = t.a) FROM t WHERE a > 1 ORDER BY a"),
        vec![vec![i(2), Datum::Null], vec![i(3), Datum::Null]]
    );
    assert_eq!(run("SELECT (SELECT c FROM u WHERE c = 40)"), vec![vec![l(40)]]);
    assert_eq!(freshet_repr::EvalError::MultipleRowsFromSubquery.sqlstate(), "21000");
}

#[test]
fn set_returning_functions_in_the_select_list() {
    assert_eq!(run("SELECT generate_series(1, 3) ORDER BY 1"), vec![vec![i(1)], vec![i(2)], vec![i(3)]]);
    assert_eq!(names("SELECT jsonb_array_elements('[1, \"a\", null]'::jsonb)"), ["jsonb_array_elements"]);
    assert_eq!(run("SELECT jsonb_array_elements('[1, \"a\", null]'::jsonb)").len(), 3);
    // Rows whose argument yields nothing disappear, as in PostgreSQL 10+.
    let rows = run("SELECT id, jsonb_array_elements_text(data) AS v FROM j ORDER BY v");
    assert_eq!(rows, vec![vec![i(1), Datum::text("1")], vec![i(1), Datum::text("2")]]);
    let (_, desc, _) = plan("SELECT id, generate_series(1, id) + 1 AS g FROM j").unwrap();
    assert_eq!(desc.typ.columns[1].scalar_type, ScalarType::Int32);
    assert_eq!(run("SELECT id, generate_series(1, id) + 1 AS g FROM j").len(), 3);
    assert_eq!(sqlstate("SELECT generate_series(1, 2), generate_series(1, 3)"), "0A000");
    assert_eq!(sqlstate("SELECT a FROM t WHERE generate_series(1, 2) = a"), "0A000");
    assert_eq!(sqlstate("SELECT count(*), generate_series(1, 2) FROM t"), "0A000");
}
