//! Planner tests: shapes, names, types and errors, and results through the reference evaluator.

use freshet_expr::relation::ColumnOrder;
use freshet_expr::{JoinKind, RelationExpr, ScalarExpr};
use freshet_repr::{Datum, GlobalId, RelationDesc, ScalarType};
use sqlparser::ast;

use super::testutil::{eval, finish, TestCatalog};
use super::{describe_query, plan_query, plan_scalar_over};
use crate::plan::RowSetFinishing;
use crate::{Params, SqlError};

pub(super) fn catalog() -> TestCatalog {
    use Datum::*;
    let mut cat = TestCatalog::default();
    cat.add_table(
        1,
        "t",
        &[("a", ScalarType::Int32, false), ("b", ScalarType::Text, true)],
        vec![vec![Int32(1), Datum::text("a")], vec![Int32(2), Datum::text("b")], vec![Int32(3), Null]],
    );
    cat.add_table(
        2,
        "u",
        &[("a", ScalarType::Int32, true), ("c", ScalarType::Int64, false)],
        vec![vec![Int32(1), Int64(10)], vec![Int32(1), Int64(11)], vec![Int32(4), Int64(40)], vec![Null, Int64(50)]],
    );
    cat.add_table(
        3,
        "j",
        &[("id", ScalarType::Int32, false), ("data", ScalarType::Jsonb, true)],
        vec![
            vec![Int32(1), Jsonb(freshet_repr::Jsonb::parse("[1, 2]").unwrap())],
            vec![Int32(2), Jsonb(freshet_repr::Jsonb::parse("[]").unwrap())],
        ],
    );
    cat.add_table(4, "empty", &[("x", ScalarType::Int32, true)], vec![]);
    cat.vars.insert("database".into(), "db1".into());
    cat.vars.insert("user".into(), "alice".into());
    cat.vars.insert("statement_timestamp".into(), "86400000000".into());
    cat
}

fn parse(sql: &str) -> ast::Query {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut stmts = sqlparser::parser::Parser::parse_sql(&dialect, sql).unwrap();
    match stmts.remove(0) {
        ast::Statement::Query(q) => *q,
        other => panic!("not a query: {other}"),
    }
}

pub(super) fn plan(sql: &str) -> Result<(RelationExpr, RelationDesc, RowSetFinishing), SqlError> {
    plan_query(&catalog(), &parse(sql), &Params::default())
}

pub(super) fn run(sql: &str) -> Vec<Vec<Datum>> {
    let cat = catalog();
    let (expr, desc, finishing) = plan_query(&cat, &parse(sql), &Params::default()).unwrap();
    let rows = finish(eval(&expr, &cat), &finishing);
    for row in &rows {
        assert_eq!(row.len(), desc.arity(), "{sql}: row {row:?} vs {desc:?}");
    }
    rows
}

pub(super) fn names(sql: &str) -> Vec<String> {
    plan(sql).unwrap().1.names
}

pub(super) fn sqlstate(sql: &str) -> &'static str {
    plan(sql).unwrap_err().sqlstate()
}

pub(super) fn i(v: i32) -> Datum {
    Datum::Int32(v)
}

pub(super) fn l(v: i64) -> Datum {
    Datum::Int64(v)
}

#[test]
fn select_columns_and_types() {
    let (expr, desc, finishing) = plan("SELECT b, a FROM t").unwrap();
    assert_eq!(desc.names, ["b", "a"]);
    assert_eq!(desc.typ.columns[0].scalar_type, ScalarType::Text);
    assert!(desc.typ.columns[0].nullable);
    assert!(!desc.typ.columns[1].nullable);
    assert_eq!(expr.depends_on(), vec![GlobalId(1)]);
    assert!(matches!(expr, RelationExpr::Project { ref outputs, .. } if outputs == &[1, 0]));
    assert_eq!(finishing.project, vec![0, 1]);
    assert_eq!(run("SELECT a FROM t WHERE a >= 2"), vec![vec![i(2)], vec![i(3)]]);
}

#[test]
fn name_resolution_errors() {
    assert_eq!(sqlstate("SELECT nope FROM t"), "42703");
    assert_eq!(sqlstate("SELECT * FROM nope"), "42P01");
    assert_eq!(sqlstate("SELECT a FROM t, u"), "42702");
    assert_eq!(sqlstate("SELECT x.a FROM t"), "42P01");
    assert_eq!(sqlstate("SELECT t.c FROM t, u"), "42703");
    assert!(plan("SELECT t.a, u.a FROM t, u").is_ok());
    assert!(plan("SELECT T.A FROM public.T").is_ok());
    assert_eq!(sqlstate("SELECT \"A\" FROM t"), "42703");
    assert_eq!(names("SELECT x.a AS \"Foo\" FROM t AS x"), ["Foo"]);
}

#[test]
fn star_expansion_and_aliases() {
    assert_eq!(names("SELECT * FROM t"), ["a", "b"]);
    assert_eq!(names("SELECT u.*, t.b FROM t, u"), ["a", "c", "b"]);
    assert_eq!(names("SELECT * FROM t AS x(p, q)"), ["p", "q"]);
    assert_eq!(names("SELECT s.* FROM (SELECT a AS z FROM t) AS s"), ["z"]);
    assert_eq!(sqlstate("SELECT *"), "42601");
}

#[test]
fn join_on_extracts_equi_keys() {
    let (expr, desc, _) = plan("SELECT * FROM t JOIN u ON t.a = u.a AND u.c > 10").unwrap();
    assert_eq!(desc.names, ["a", "b", "a", "c"]);
    let RelationExpr::Join { left_key, right_key, residual, kind, .. } = expr else {
        panic!("expected a join, got {expr:?}");
    };
    assert_eq!(left_key, vec![ScalarExpr::Column(0)]);
    assert_eq!(right_key, vec![ScalarExpr::Column(0)]);
    assert_eq!(residual.len(), 1);
    assert_eq!(kind, JoinKind::Inner);
    assert_eq!(run("SELECT t.a, u.c FROM t JOIN u ON t.a = u.a"), vec![vec![i(1), l(10)], vec![i(1), l(11)]]);
}

#[test]
fn where_equalities_become_join_keys() {
    let (expr, _, _) = plan("SELECT t.b FROM t, u WHERE u.a = t.a AND t.a > 0").unwrap();
    let mut found = false;
    expr.visit(&mut |e| {
        if let RelationExpr::Join { left_key, right_key, left, .. } = e {
            assert_eq!(left_key, &vec![ScalarExpr::Column(0)]);
            assert_eq!(right_key, &vec![ScalarExpr::Column(0)]);
            assert!(matches!(**left, RelationExpr::Filter { .. }), "t.a > 0 pushed to the left: {left:?}");
            found = true;
        }
    });
    assert!(found);
    assert_eq!(run("SELECT t.b FROM t, u WHERE u.a = t.a"), vec![vec![Datum::text("a")], vec![Datum::text("a")]]);
}

#[test]
fn outer_joins() {
    let rows = run("SELECT t.a, u.c FROM t LEFT JOIN u ON t.a = u.a ORDER BY 1, 2");
    assert_eq!(rows, vec![vec![i(1), l(10)], vec![i(1), l(11)], vec![i(2), Datum::Null], vec![i(3), Datum::Null]]);
    let (_, desc, _) = plan("SELECT t.a, u.c FROM t LEFT JOIN u ON t.a = u.a").unwrap();
    assert!(desc.typ.columns[1].nullable);
    let rows = run("SELECT t.a, u.c FROM t RIGHT JOIN u ON t.a = u.a ORDER BY 2");
    assert_eq!(rows, vec![vec![i(1), l(10)], vec![i(1), l(11)], vec![Datum::Null, l(40)], vec![Datum::Null, l(50)]]);
    assert_eq!(run("SELECT count(*) FROM t FULL JOIN u ON t.a = u.a"), vec![vec![l(6)]]);
    assert_eq!(run("SELECT count(*) FROM t CROSS JOIN u"), vec![vec![l(12)]]);
}

#[test]
fn using_and_natural_joins() {
    assert_eq!(names("SELECT * FROM t JOIN u USING (a)"), ["a", "b", "c"]);
    assert_eq!(names("SELECT * FROM t NATURAL JOIN u"), ["a", "b", "c"]);
    assert!(plan("SELECT a, t.a, u.a FROM t JOIN u USING (a)").is_ok());
    let rows = run("SELECT a, c FROM t FULL JOIN u USING (a) ORDER BY a NULLS FIRST, c");
    assert_eq!(rows[0], vec![Datum::Null, l(50)]);
    assert_eq!(rows.len(), 6);
    assert!(rows.contains(&vec![i(4), l(40)]));
}

#[test]
fn grouping_and_aggregates() {
    let (_, desc, _) = plan("SELECT a, count(*), sum(c) FROM u GROUP BY a").unwrap();
    assert_eq!(desc.names, ["a", "count", "sum"]);
    assert_eq!(desc.typ.columns[1].scalar_type, ScalarType::Int64);
    let rows = run("SELECT a, count(*) AS n FROM u GROUP BY a ORDER BY n DESC, a");
    assert_eq!(rows, vec![vec![i(1), l(2)], vec![i(4), l(1)], vec![Datum::Null, l(1)]]);
    assert_eq!(run("SELECT a + 1 FROM u GROUP BY a + 1 HAVING count(*) > 1"), vec![vec![i(2)]]);
    assert_eq!(run("SELECT count(DISTINCT a) FROM u"), vec![vec![l(2)]]);
    assert_eq!(run("SELECT a AS k, count(*) FROM u GROUP BY k HAVING a = 4"), vec![vec![i(4), l(1)]]);
    assert_eq!(run("SELECT a, count(*) FROM u GROUP BY 1 ORDER BY 1 NULLS FIRST")[0], vec![Datum::Null, l(1)]);
    assert_eq!(sqlstate("SELECT b, count(*) FROM t GROUP BY a"), "42803");
    assert_eq!(sqlstate("SELECT * FROM t GROUP BY a"), "42803");
    assert_eq!(sqlstate("SELECT a FROM t WHERE count(*) > 1"), "42803");
    assert_eq!(sqlstate("SELECT a, count(*) FROM t"), "42803");
}

#[test]
fn global_aggregate_over_empty_input_has_one_row() {
    assert_eq!(run("SELECT count(*) FROM empty"), vec![vec![l(0)]]);
    assert_eq!(run("SELECT count(*), max(x) FROM empty"), vec![vec![l(0), Datum::Null]]);
    assert_eq!(run("SELECT count(*) FROM t WHERE a > 1"), vec![vec![l(2)]]);
    assert_eq!(run("SELECT count(*) FROM empty GROUP BY x"), Vec::<Vec<Datum>>::new());
    assert_eq!(run("SELECT count(*) FILTER (WHERE a > 1) FROM t"), vec![vec![l(2)]]);
}

#[test]
fn order_by_limit_offset() {
    let (_, desc, finishing) = plan("SELECT b FROM t ORDER BY a DESC LIMIT 2 OFFSET 1").unwrap();
    assert_eq!(desc.names, ["b"]);
    assert_eq!(finishing.project, vec![0]);
    assert_eq!(finishing.order_by, vec![ColumnOrder { column: 1, desc: true, nulls_last: false }]);
    assert_eq!(finishing.limit, Some(2));
    assert_eq!(finishing.offset, 1);
    assert_eq!(
        run("SELECT b FROM t ORDER BY a DESC LIMIT 2 OFFSET 1"),
        vec![vec![Datum::text("b")], vec![Datum::text("a")]]
    );
    assert_eq!(run("SELECT b FROM t ORDER BY b LIMIT 1 OFFSET 2"), vec![vec![Datum::Null]]);
    assert_eq!(run("SELECT a AS x FROM t ORDER BY x DESC")[0], vec![i(3)]);
    assert_eq!(sqlstate("SELECT a FROM t ORDER BY 5"), "42P10");
    // In a subquery, ORDER BY + LIMIT become a TopK.
    let (expr, _, _) = plan("SELECT * FROM (SELECT a FROM t ORDER BY a DESC LIMIT 1) s").unwrap();
    let mut topk = false;
    expr.visit(&mut |e| topk |= matches!(e, RelationExpr::TopK { limit: Some(1), .. }));
    assert!(topk);
    assert_eq!(run("SELECT * FROM (SELECT a FROM t ORDER BY a DESC LIMIT 1) s"), vec![vec![i(3)]]);
}

#[test]
fn set_operations() {
    assert_eq!(run("SELECT a FROM t UNION SELECT a FROM u ORDER BY 1").len(), 5);
    assert_eq!(run("SELECT a FROM t UNION ALL SELECT a FROM u").len(), 7);
    assert_eq!(run("SELECT a FROM t INTERSECT SELECT a FROM u"), vec![vec![i(1)]]);
    assert_eq!(run("SELECT a FROM u INTERSECT ALL SELECT a FROM u"), run("SELECT a FROM u"));
    assert_eq!(run("SELECT a FROM t EXCEPT SELECT a FROM u ORDER BY a"), vec![vec![i(2)], vec![i(3)]]);
    assert_eq!(
        run("SELECT a FROM u EXCEPT ALL SELECT a FROM t ORDER BY 1"),
        vec![vec![i(1)], vec![i(4)], vec![Datum::Null]]
    );
    let (_, desc, _) = plan("SELECT a FROM t UNION SELECT c FROM u").unwrap();
    assert_eq!(desc.typ.columns[0].scalar_type, ScalarType::Int64);
    assert_eq!(sqlstate("SELECT a, b FROM t UNION SELECT a FROM u"), "42601");
    let (_, desc, _) = plan("SELECT 1, 'x' UNION ALL SELECT NULL, NULL UNION ALL SELECT NULL, 'y'").unwrap();
    assert_eq!(desc.typ.columns[0].scalar_type, ScalarType::Int32);
    assert_eq!(desc.typ.columns[1].scalar_type, ScalarType::Text);
    assert_eq!(run("SELECT 1 UNION SELECT NULL ORDER BY 1"), vec![vec![i(1)], vec![Datum::Null]]);
}

#[test]
fn values_and_ctes() {
    let (expr, desc, _) = plan("VALUES (1, 'x'), (2, NULL)").unwrap();
    assert_eq!(desc.names, ["column1", "column2"]);
    assert_eq!(desc.typ.columns[1].scalar_type, ScalarType::Text);
    assert!(matches!(expr, RelationExpr::Constant { .. }));
    assert_eq!(run("SELECT column1 FROM (VALUES (1), (2)) AS v WHERE column1 > 1"), vec![vec![i(2)]]);
    assert_eq!(run("WITH w AS (SELECT a FROM t WHERE a < 3) SELECT count(*) FROM w, w AS w2"), vec![vec![l(4)]]);
    assert_eq!(names("WITH w(x) AS (SELECT a FROM t) SELECT * FROM w"), ["x"]);
    assert_eq!(sqlstate("WITH RECURSIVE w AS (SELECT 1) SELECT * FROM w"), "0A000");
}

#[test]
fn views_are_inlined() {
    let mut cat = catalog();
    let (expr, desc, _) = plan_query(&cat, &parse("SELECT a FROM t WHERE a > 1"), &Params::default()).unwrap();
    cat.add_view(9, "v", expr, desc);
    let (expr, desc, finishing) = plan_query(&cat, &parse("SELECT a * 10 AS z FROM v"), &Params::default()).unwrap();
    assert_eq!(desc.names, ["z"]);
    assert_eq!(expr.depends_on(), vec![GlobalId(1)]);
    assert_eq!(finish(eval(&expr, &cat), &finishing), vec![vec![i(20)], vec![i(30)]]);
}

#[test]
fn output_column_names() {
    let sql = "SELECT a + 1, count(*), CAST(a AS text), '1'::int, CASE WHEN a > 1 THEN 1 END, \
               coalesce(b, 'z'), (SELECT 1 AS one), EXISTS (SELECT 1), true, DATE '2024-01-01' \
               FROM t GROUP BY a, b";
    let expected = ["?column?", "count", "a", "int4", "case", "coalesce", "one", "exists", "bool", "date"];
    assert_eq!(names(sql), expected);
    assert_eq!(names("SELECT (SELECT 1 AS one), EXISTS (SELECT 1) FROM t"), ["one", "exists"]);
}

#[test]
fn scalar_expressions_evaluate() {
    let rows = run("SELECT a BETWEEN 2 AND 3, a IN (1, 3), a NOT IN (1, 3), b IS NULL, b IS DISTINCT FROM 'a', \
         CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END, coalesce(b, 'none'), b LIKE 'a%' \
         FROM t ORDER BY a");
    let (t, f, n) = (Datum::Bool(true), Datum::Bool(false), Datum::Null);
    assert_eq!(
        rows[0],
        vec![f.clone(), t.clone(), f.clone(), f.clone(), f.clone(), Datum::text("one"), Datum::text("a"), t.clone()]
    );
    assert_eq!(
        rows[2],
        vec![t.clone(), t.clone(), f.clone(), t.clone(), t, Datum::text("many"), Datum::text("none"), n]
    );
    assert_eq!(
        run("SELECT 2147483648, -2147483648, 1.5")[0],
        vec![l(2147483648), i(-2147483648), run("SELECT 1.5::numeric")[0][0].clone()]
    );
    assert_eq!(
        run("SELECT current_database(), current_user, now()")[0][..2],
        [Datum::text("db1"), Datum::text("alice")]
    );
    assert_eq!(run("SELECT now()")[0][0], Datum::TimestampTz(86_400_000_000));
    assert_eq!(sqlstate("SELECT a FROM t WHERE a"), "42804");
}

#[test]
fn subqueries_in_expressions() {
    assert_eq!(run("SELECT a FROM t WHERE a IN (SELECT a FROM u)"), vec![vec![i(1)]]);
    // u.a contains a NULL: NOT IN is never true.
    assert_eq!(run("SELECT a FROM t WHERE a NOT IN (SELECT a FROM u)"), Vec::<Vec<Datum>>::new());
    assert_eq!(
        run("SELECT a FROM t WHERE a NOT IN (SELECT a FROM u WHERE a IS NOT NULL) ORDER BY a"),
        vec![vec![i(2)], vec![i(3)]]
    );
    assert_eq!(run("SELECT a FROM t WHERE a NOT IN (SELECT x FROM empty)").len(), 3);
    assert_eq!(run("SELECT a FROM t WHERE a = ANY (SELECT a FROM u)"), vec![vec![i(1)]]);
    assert_eq!(run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE c > 40)").len(), 3);
    assert_eq!(run("SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM empty)").len(), 3);
    assert_eq!(run("SELECT a, (SELECT max(c) FROM u) FROM t WHERE a = 1"), vec![vec![i(1), l(50)]]);
    assert_eq!(run("SELECT (SELECT x FROM empty)"), vec![vec![Datum::Null]]);
    assert_eq!(
        run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a > t.a)"),
        vec![vec![i(1)], vec![i(2)], vec![i(3)]]
    );
    assert_eq!(sqlstate("SELECT (SELECT a, c FROM u) FROM t"), "42601");
}

#[test]
fn table_functions_in_from() {
    let (_, desc, _) = plan("SELECT * FROM j, jsonb_array_elements(j.data) AS e").unwrap();
    assert_eq!(desc.names, ["id", "data", "value"]);
    assert_eq!(run("SELECT id, value FROM j, jsonb_array_elements(data)").len(), 2);
    assert_eq!(names("SELECT * FROM generate_series(1, 3)"), ["generate_series"]);
    assert_eq!(names("SELECT * FROM generate_series(1, 3) AS g"), ["g"]);
    assert_eq!(run("SELECT sum(g) FROM generate_series(1, 4) AS g"), vec![vec![l(10)]]);
}

#[test]
fn parameters() {
    let cat = catalog();
    let (types, desc) = describe_query(&cat, &parse("SELECT b FROM t WHERE a = $1 AND b LIKE $2"), &[]).unwrap();
    assert_eq!(types, vec![ScalarType::Int32, ScalarType::Text]);
    assert_eq!(desc.names, ["b"]);
    let (types, _) = describe_query(&cat, &parse("SELECT $1"), &[Some(ScalarType::Int64)]).unwrap();
    assert_eq!(types, vec![ScalarType::Int64]);
    let params = Params { types: vec![Some(ScalarType::Int32)], values: vec![i(2)], bind_later: false };
    let (expr, _, finishing) = plan_query(&cat, &parse("SELECT b FROM t WHERE a = $1 LIMIT $1"), &params).unwrap();
    assert_eq!(finish(eval(&expr, &cat), &finishing), vec![vec![Datum::text("b")]]);
    assert_eq!(finishing.limit, Some(2));
}

#[test]
fn plans_with_parameters_bound_later_agree_with_plans_of_the_values() {
    let cat = catalog();
    let types = vec![Some(ScalarType::Int32)];
    let late = Params { types: types.clone(), values: Vec::new(), bind_later: true };
    for sql in ["SELECT b FROM t WHERE a = $1 OR $1 = 7", "SELECT a + $1, count(*) FROM t GROUP BY a + $1"] {
        let (template, desc, finishing) = plan_query(&cat, &parse(sql), &late).unwrap();
        for value in [i(1), i(7), Datum::Null] {
            let mut bound = template.clone();
            assert!(bound.bind_params(std::slice::from_ref(&value)));
            let params = Params { types: types.clone(), values: vec![value], bind_later: false };
            let (expr, value_desc, value_finishing) = plan_query(&cat, &parse(sql), &params).unwrap();
            assert_eq!(finish(eval(&bound, &cat), &finishing), finish(eval(&expr, &cat), &value_finishing), "{sql}");
            assert_eq!(desc.names, value_desc.names);
        }
        // Without a value a parameter stays unbound, and the caller plans with values instead.
        assert!(!template.clone().bind_params(&[]));
    }
    // A parameter whose value planning needs is an error, not a guess.
    assert!(plan_query(&cat, &parse("SELECT b FROM t LIMIT $1"), &late).is_err());
}

#[test]
fn scalar_over_one_relation() {
    let cat = catalog();
    let desc = cat.items["t"].desc.clone();
    let expr = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql("t.a + 1")
        .unwrap()
        .parse_expr()
        .unwrap();
    let typed = plan_scalar_over(&cat, "t", &desc, &expr, &Params::default()).unwrap();
    assert_eq!(typed.typ.scalar_type, ScalarType::Int32);
    assert_eq!(typed.expr.eval(&[i(41), Datum::Null]).unwrap(), i(42));
}

#[test]
fn correlated_subqueries_are_decorrelated() {
    assert_eq!(run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)"), vec![vec![i(1)]]);
    assert_eq!(
        run("SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND c > 10) ORDER BY a"),
        vec![vec![i(2)], vec![i(3)]]
    );
    assert_eq!(
        run("SELECT a, (SELECT count(*) FROM u WHERE u.a = t.a) FROM t ORDER BY a"),
        vec![vec![i(1), l(2)], vec![i(2), l(0)], vec![i(3), l(0)]]
    );
    assert_eq!(
        run("SELECT a, (SELECT max(c) FROM u WHERE t.a = u.a) AS m FROM t ORDER BY a"),
        vec![vec![i(1), l(11)], vec![i(2), Datum::Null], vec![i(3), Datum::Null]]
    );
    // A NULL correlation value matches no group but still sees count's default.
    assert_eq!(
        run("SELECT c, (SELECT count(*) FROM t WHERE t.a = u.a) FROM u ORDER BY c"),
        vec![vec![l(10), l(1)], vec![l(11), l(1)], vec![l(40), l(0)], vec![l(50), l(0)]]
    );
    assert_eq!(
        run("SELECT a FROM t WHERE a IN (SELECT count(*) FROM u WHERE u.a = t.a) ORDER BY a"),
        Vec::<Vec<Datum>>::new()
    );
    assert_eq!(run("SELECT a FROM t WHERE 0 IN (SELECT count(*) FROM u WHERE u.a = t.a) ORDER BY a").len(), 2);
    assert_eq!(run("SELECT a FROM t WHERE a IN (SELECT u.a FROM u WHERE u.c = t.a * 10) ORDER BY a"), vec![vec![i(1)]]);
    assert_eq!(run("SELECT a FROM t WHERE 1 NOT IN (SELECT u.a FROM u WHERE u.c = t.a * 10) ORDER BY a").len(), 2);
}

#[test]
fn distinct_and_distinct_on() {
    assert_eq!(run("SELECT DISTINCT a FROM u ORDER BY a").len(), 3);
    let rows = run("SELECT DISTINCT ON (a) a, c FROM u ORDER BY a, c DESC");
    assert_eq!(rows, vec![vec![i(1), l(11)], vec![i(4), l(40)], vec![Datum::Null, l(50)]]);
    assert_eq!(run("SELECT DISTINCT ON (a) c FROM u").len(), 3);
    assert_eq!(sqlstate("SELECT DISTINCT ON (a) a, c FROM u ORDER BY c"), "42P10");
    assert_eq!(sqlstate("SELECT DISTINCT b FROM t ORDER BY a"), "42P10");
}

#[test]
fn where_pushdown_below_subquery_joins() {
    let sql = "SELECT t.b FROM t, u WHERE t.a = u.a AND EXISTS (SELECT 1 FROM empty) = false";
    let (expr, _, _) = plan(sql).unwrap();
    let mut keyed = false;
    expr.visit(&mut |e| {
        keyed |= matches!(e, RelationExpr::Join { left_key, kind: JoinKind::Inner, .. } if !left_key.is_empty())
    });
    assert!(keyed, "{expr:?}");
    assert_eq!(run(sql).len(), 2);
    assert_eq!(run("SELECT t.b FROM t, u WHERE t.a = u.a AND EXISTS (SELECT 1 FROM empty)").len(), 0);
}

#[test]
fn subqueries_in_aggregating_selects() {
    assert_eq!(
        run("SELECT a, count(*) FROM u GROUP BY a HAVING count(*) > (SELECT count(*) FROM t WHERE a = 1)"),
        vec![vec![i(1), l(2)]]
    );
    assert_eq!(
        run("SELECT count(*) + (SELECT max(a) FROM t), a IN (SELECT a FROM t) FROM u GROUP BY a ORDER BY 1").len(),
        3
    );
    assert_eq!(
        run("SELECT a IN (SELECT a FROM t) FROM u GROUP BY a ORDER BY a"),
        vec![vec![Datum::Bool(true)], vec![Datum::Bool(false)], vec![Datum::Null]]
    );
    assert_eq!(
        run("SELECT count(*) FROM u GROUP BY a HAVING EXISTS (SELECT 1 FROM t WHERE t.a = u.a)"),
        vec![vec![l(2)]]
    );
}

#[test]
fn lateral_subqueries() {
    assert_eq!(
        run("SELECT t.a, s.n FROM t, LATERAL (SELECT count(*) AS n FROM u WHERE u.a = t.a) s ORDER BY 1"),
        vec![vec![i(1), l(2)], vec![i(2), l(0)], vec![i(3), l(0)]]
    );
    assert_eq!(
        run("SELECT t.a, s.c FROM t, LATERAL (SELECT c FROM u WHERE u.a = t.a) AS s ORDER BY 2"),
        vec![vec![i(1), l(10)], vec![i(1), l(11)]]
    );
    assert_eq!(run("SELECT * FROM t, LATERAL (SELECT 1 AS one) s").len(), 3);
    assert_eq!(
        run("SELECT t.a, s.c FROM t JOIN LATERAL (SELECT c FROM u WHERE u.a = t.a) s ON s.c > 10"),
        vec![vec![i(1), l(11)]]
    );
    assert_eq!(names("SELECT * FROM t, LATERAL (SELECT c FROM u WHERE u.a = t.a) s"), ["a", "b", "c"]);
}

#[test]
fn special_forms_and_json_operators() {
    let sql = "SELECT EXTRACT(YEAR FROM DATE '2024-03-01'), SUBSTRING('hello' FROM 2 FOR 3), TRIM('  x  '), \
               POSITION('l' IN 'hello'), INTERVAL '1 day', '2024-01-01'::date + 1, data -> 0, data ->> 1, \
               data @> '[1]', 'abc' ~ 'b' FROM j WHERE id = 1";
    let (_, desc, _) = plan(sql).unwrap();
    let types: Vec<ScalarType> = desc.typ.columns.iter().map(|c| c.scalar_type).collect();
    assert_eq!(types[1..5], [ScalarType::Text, ScalarType::Text, ScalarType::Int32, ScalarType::Interval]);
    assert_eq!(types[6..], [ScalarType::Jsonb, ScalarType::Text, ScalarType::Bool, ScalarType::Bool]);
    assert_eq!(desc.names[..4], ["extract", "substring", "btrim", "position"]);
    let row = run(sql).remove(0);
    assert_eq!(row[1..4], [Datum::text("ell"), Datum::text("x"), i(3)]);
    assert_eq!(row[7..], [Datum::text("2"), Datum::Bool(true), Datum::Bool(true)]);
    let cat = catalog();
    let (types, _) = describe_query(&cat, &parse("SELECT data ->> $1 FROM j WHERE data @> $2"), &[]).unwrap();
    assert_eq!(types, vec![ScalarType::Text, ScalarType::Jsonb]);
}
