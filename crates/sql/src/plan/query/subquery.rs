//! Subqueries in expressions: scalar subqueries, EXISTS, IN / = ANY / <> ALL.
//!
//! Each subquery is joined (left outer, so that no outer row is lost) onto the relation of the
//! enclosing query level, and the expression reads the joined columns. Uncorrelated subqueries
//! join on nothing; correlated ones are decorrelated where `decorrelate` can (equality
//! correlation in WHERE) and join on their correlation keys; others are unsupported.
//!
//! Known gap: a scalar subquery returning more than one row duplicates the outer row instead of
//! failing with 21000, because the IR has no way to raise an error from a plan node.

use freshet_expr::func::{BinaryFunc, UnaryFunc};
use freshet_expr::{JoinKind, RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::{ColumnType, Datum, ScalarType};
use sqlparser::ast;

use super::decorrelate::{decorrelate, fill_defaults, is_correlation_error, Decorrelated, Output};
use super::expr::{plan_expr, ExprContext, Planned};
use super::setop::plan_query;
use super::{PlannedQuery, Scope};
use crate::SqlError;

fn plan_sub(ecx: &ExprContext, q: &ast::Query) -> Result<PlannedQuery, SqlError> {
    if ecx.rel.is_none() {
        return Err(SqlError::Unsupported(format!("subqueries in {}", ecx.clause)));
    }
    let mut outer: Vec<Scope> = ecx.outer.to_vec();
    outer.push(ecx.scope.clone());
    plan_query(ecx.qcx, q, &outer)
}

/// The subquery, uncorrelated or decorrelated: its relation (key columns first), the outer key
/// expressions to join it on, and the types of its visible columns after the keys.
fn plan_any_sub(ecx: &ExprContext, q: &ast::Query, output: Output) -> Result<Decorrelated, SqlError> {
    match plan_sub(ecx, q) {
        Ok(planned) => {
            let (value_types, value_names) = (planned.desc.typ.columns.clone(), planned.desc.names.clone());
            let rel = planned.into_relation();
            let rel = if output == Output::KeysOnly { rel.project(vec![]) } else { rel };
            Ok(Decorrelated { rel, outer_keys: vec![], value_types, value_names, defaults: None })
        }
        Err(e) if is_correlation_error(&e) && ecx.grouping.is_none() => decorrelate(ecx, q, output)?.ok_or(e),
        Err(e) => Err(e),
    }
}

/// Left-outer-joins `sub` onto the current relation on `left_key` = the first columns of `sub`;
/// returns the index of its first column.
fn attach(ecx: &ExprContext, sub: RelationExpr, left_key: Vec<ScalarExpr>) -> Result<usize, SqlError> {
    if let Some(grouping) = ecx.grouping {
        return Ok(grouping.defer_join(sub, left_key));
    }
    let cell = ecx.rel.ok_or_else(|| SqlError::Unsupported(format!("subqueries in {}", ecx.clause)))?;
    let right_key = (0..left_key.len()).map(ScalarExpr::Column).collect();
    let left = super::select::take(cell);
    let offset = left.arity();
    cell.replace(RelationExpr::Join {
        left: Box::new(left),
        right: Box::new(sub),
        left_key,
        right_key,
        residual: vec![],
        kind: JoinKind::LeftOuter,
    });
    Ok(offset)
}

/// The key columns of `rel` once, followed by `true`: matches mark that a key has rows.
fn marker(rel: RelationExpr, keys: usize) -> RelationExpr {
    rel.project((0..keys).collect()).distinct().map(vec![ScalarExpr::literal_true()])
}

fn is_not_null(e: ScalarExpr) -> ScalarExpr {
    e.call_unary(UnaryFunc::IsNull).call_unary(UnaryFunc::Not)
}

pub(crate) fn plan_exists(ecx: &ExprContext, q: &ast::Query, negated: bool) -> Result<Planned, SqlError> {
    let sub = plan_any_sub(ecx, q, Output::KeysOnly)?;
    let k = sub.outer_keys.len();
    let c = attach(ecx, marker(sub.rel, k), sub.outer_keys)?;
    let found = ScalarExpr::Column(c + k).call_unary(UnaryFunc::IsNull);
    let expr = if negated { found } else { found.call_unary(UnaryFunc::Not) };
    Ok(Planned::Typed(TypedExpr::new(expr, ColumnType::new(ScalarType::Bool, false))))
}

pub(crate) fn plan_scalar_subquery(ecx: &ExprContext, q: &ast::Query) -> Result<Planned, SqlError> {
    let sub = plan_any_sub(ecx, q, Output::KeysAndValues)?;
    if sub.value_types.len() != 1 {
        return Err(SqlError::Parse("subquery must return only one column".into()));
    }
    let typ = ColumnType::new(sub.value_types[0].scalar_type, true);
    let k = sub.outer_keys.len();
    let Some(defaults) = sub.defaults else {
        let c = attach(ecx, sub.rel, sub.outer_keys)?;
        return Ok(Planned::Typed(TypedExpr::new(ScalarExpr::Column(c + k), typ)));
    };
    // An aggregate without GROUP BY: outer rows with no group see its value over no rows.
    let c = attach(ecx, sub.rel.map(vec![ScalarExpr::literal_true()]), sub.outer_keys)?;
    let d = attach(ecx, defaults, vec![])?;
    let expr = ScalarExpr::If {
        cond: Box::new(ScalarExpr::Column(c + k + 1).call_unary(UnaryFunc::IsNull)),
        then: Box::new(ScalarExpr::Column(d)),
        els: Box::new(ScalarExpr::Column(c + k)),
    };
    Ok(Planned::Typed(TypedExpr::new(expr, typ)))
}

/// `x = ANY (subquery)` is IN, `x <> ALL (subquery)` is NOT IN; other comparisons are unsupported.
pub(crate) fn plan_any(
    ecx: &ExprContext,
    left: &ast::Expr,
    op: &ast::BinaryOperator,
    right: &ast::Expr,
    all: bool,
) -> Result<Planned, SqlError> {
    let ast::Expr::Subquery(q) = right else {
        return Err(SqlError::Unsupported("ANY/ALL over arrays".into()));
    };
    match (op, all) {
        (ast::BinaryOperator::Eq, false) => plan_in_subquery(ecx, left, q, false),
        (ast::BinaryOperator::NotEq, true) => plan_in_subquery(ecx, left, q, true),
        _ => Err(SqlError::Unsupported(format!("{op} {} (subquery)", if all { "ALL" } else { "ANY" }))),
    }
}

/// `x [NOT] IN (subquery)` with SQL's NULL semantics: true on a match; else NULL if the subquery
/// has rows and `x` or one of its values is NULL; else false.
pub(crate) fn plan_in_subquery(
    ecx: &ExprContext,
    e: &ast::Expr,
    q: &ast::Query,
    negated: bool,
) -> Result<Planned, SqlError> {
    let x = plan_expr(ecx, e)?;
    let mut sub = plan_any_sub(ecx, q, Output::KeysAndValues)?;
    if sub.value_types.len() != 1 {
        return Err(SqlError::Parse("subquery has too many columns".into()));
    }
    if sub.defaults.is_some() {
        let outer = ecx.rel.map(|r| r.borrow().clone());
        let outer = outer.ok_or_else(|| SqlError::Unsupported(format!("subqueries in {}", ecx.clause)))?;
        let (value_types, value_names) = (sub.value_types.clone(), sub.value_names.clone());
        let (rel, outer_keys) = fill_defaults(outer, sub);
        sub = Decorrelated { rel, outer_keys, value_types, value_names, defaults: None };
    }
    let sub_type = sub.value_types[0];
    let target =
        freshet_expr::func::common_type(&[x.scalar_type().unwrap_or(sub_type.scalar_type), sub_type.scalar_type])?;
    let x = ecx.coerce(x, target)?;
    let k = sub.outer_keys.len();
    let value = ecx.coerce(Planned::Typed(TypedExpr::new(ScalarExpr::Column(k), sub_type)), target)?;
    let rel = super::select::project_exprs(sub.rel, (0..k).map(ScalarExpr::Column).chain([value.expr]).collect());

    let has_null = marker(rel.clone().filter(vec![ScalarExpr::Column(k).call_unary(UnaryFunc::IsNull)]), k);
    let nonempty = marker(rel.clone(), k);
    let mut match_key = sub.outer_keys.clone();
    match_key.push(x.expr.clone());
    let matched = attach(ecx, rel.distinct(), match_key)? + k;
    let null_seen = attach(ecx, has_null, sub.outer_keys.clone())? + k;
    let any_rows = attach(ecx, nonempty, sub.outer_keys)? + k;

    let unknown = ScalarExpr::CallBinary {
        func: BinaryFunc::And,
        expr1: Box::new(ScalarExpr::CallBinary {
            func: BinaryFunc::Or,
            expr1: Box::new(x.expr.call_unary(UnaryFunc::IsNull)),
            expr2: Box::new(is_not_null(ScalarExpr::Column(null_seen))),
        }),
        expr2: Box::new(is_not_null(ScalarExpr::Column(any_rows))),
    };
    let result = ScalarExpr::If {
        cond: Box::new(is_not_null(ScalarExpr::Column(matched))),
        then: Box::new(ScalarExpr::literal_true()),
        els: Box::new(ScalarExpr::If {
            cond: Box::new(unknown),
            then: Box::new(ScalarExpr::literal_null(ScalarType::Bool)),
            els: Box::new(ScalarExpr::Literal(Datum::Bool(false), ScalarType::Bool)),
        }),
    };
    let result = if negated { result.call_unary(UnaryFunc::Not) } else { result };
    Ok(Planned::Typed(TypedExpr::new(result, ColumnType::new(ScalarType::Bool, true))))
}
