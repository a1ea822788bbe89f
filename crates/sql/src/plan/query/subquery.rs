//! Subqueries in expressions: scalar subqueries, EXISTS, IN / = ANY / <> ALL.
//!
//! Each subquery is joined (left outer, so that no outer row is lost) onto the relation of the
//! enclosing query level, and the expression reads the joined columns. Uncorrelated subqueries
//! join on nothing. A correlated subquery is decorrelated in general: it is planned with the
//! distinct values of the enclosing level's columns cross joined into its FROM (so that any
//! predicate, select-list expression or HAVING may read them), outputs them first (grouping by
//! them when it aggregates, with one default row per value that has no group), and is joined back
//! on them with NULL-safe equality. A scalar subquery's rows are counted per key so that more than
//! one row raises 21000 as data.

use freshet_expr::func::{BinaryFunc, UnaryFunc, VariadicFunc};
use freshet_expr::{AggregateExpr, AggregateFunc, JoinKind, RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::{ColumnType, Datum, RelationDesc, ScalarType};
use sqlparser::ast;

use super::expr::{plan_expr, ExprContext, Planned};
use super::setop::plan_query;
use super::{Correlation, QueryContext, Scope};
use crate::SqlError;

/// Whether planning failed on a reference to an enclosing query's column.
pub(crate) fn is_correlation_error(e: &SqlError) -> bool {
    matches!(e, SqlError::Unsupported(m) if m.starts_with("correlated subqueries"))
}

/// A planned subquery: `keys` leading columns of correlation values (matching the enclosing
/// relation's columns `0..keys`, or the group keys of an aggregating level), then its values.
struct Sub {
    rel: RelationExpr,
    keys: usize,
    value_types: Vec<ColumnType>,
}

fn plan_sub(ecx: &ExprContext, q: &ast::Query) -> Result<Sub, SqlError> {
    if ecx.rel.is_none() {
        return Err(SqlError::Unsupported(format!("subqueries in {}", ecx.clause)));
    }
    let mut outer: Vec<Scope> = ecx.outer.to_vec();
    outer.push(ecx.scope.clone());
    match plan_query(ecx.qcx, q, &outer) {
        Ok(planned) => {
            let value_types = planned.desc.typ.columns.clone();
            Ok(Sub { rel: planned.into_relation(), keys: 0, value_types })
        }
        Err(e) if is_correlation_error(&e) => plan_correlated(ecx, q).map_err(|inner| match inner {
            // A reference to a level further out: report the original.
            inner if is_correlation_error(&inner) => e,
            inner => inner,
        }),
        Err(e) => Err(e),
    }
}

/// The enclosing level's columns as a subquery sees them: their distinct values and names.
fn correlation(ecx: &ExprContext) -> Result<Correlation, SqlError> {
    let unsupported = || SqlError::Unsupported(format!("correlated subqueries in {}", ecx.clause));
    if let Some(g) = ecx.grouping {
        // Above a GROUP BY only the group keys exist; a key that is an input column keeps its name.
        let mut scope = Scope::default();
        for (i, key) in g.keys.iter().enumerate() {
            let named = match key.expr {
                ScalarExpr::Column(c) => ecx.scope.items.get(c).cloned(),
                _ => None,
            };
            // Other keys hold their place but cannot be named.
            let item = named.unwrap_or_else(|| {
                let mut item = super::scope::ScopeItem::new(None, format!("?key{i}?"), key.typ);
                item.unqualified = false;
                item
            });
            scope.items.push(item);
        }
        let rel = RelationExpr::Reduce {
            input: Box::new(g.input.borrow().clone()),
            group_key: g.keys.iter().map(|k| k.expr.clone()).collect(),
            aggregates: vec![],
        };
        return Ok(Correlation { rel, scope: scope.into_correlated() });
    }
    let cell = ecx.rel.ok_or_else(unsupported)?;
    let n = ecx.scope.arity();
    let rel = cell.borrow().clone().project((0..n).collect()).distinct();
    Ok(Correlation { rel, scope: ecx.scope.clone().into_correlated() })
}

fn plan_correlated(ecx: &ExprContext, q: &ast::Query) -> Result<Sub, SqlError> {
    let corr = correlation(ecx)?;
    let mut outer: Vec<Scope> = ecx.outer.to_vec();
    if ecx.grouping.is_some() {
        // Ungrouped columns stay visible only to be reported as such.
        outer.push(ecx.scope.clone());
    }
    let (rel, keys, desc) = plan_with_correlation(ecx.qcx, q, &outer, corr)?;
    Ok(Sub { rel, keys, value_types: desc.typ.columns })
}

/// Plans `q` with `corr`'s columns available to it (see the module docs). Returns its relation
/// (the correlation columns, then the visible columns), the number of correlation columns, and
/// the description of the visible columns.
pub(crate) fn plan_with_correlation(
    qcx: &QueryContext,
    q: &ast::Query,
    outer: &[Scope],
    corr: Correlation,
) -> Result<(RelationExpr, usize, RelationDesc), SqlError> {
    let keys = corr.scope.arity();
    qcx.correlation.replace(Some(corr));
    let planned = plan_query(qcx, q, outer);
    qcx.correlation.take();
    let planned = planned?;
    let arity = planned.desc.arity();
    let desc = RelationDesc::new(planned.desc.iter().skip(keys).map(|(n, t)| (n.to_string(), *t)).collect());
    let mut rel = planned.expr;
    if planned.limit.is_some() || planned.offset > 0 {
        rel = RelationExpr::TopK {
            input: Box::new(rel),
            group_key: (0..keys).collect(),
            order_by: planned.order_by,
            limit: planned.limit,
            offset: planned.offset,
            with_ties: false,
        };
    }
    if rel.arity() != arity {
        rel = rel.project((0..arity).collect());
    }
    Ok((rel, keys, desc))
}

/// A literal of `ty` that stands for NULL in NULL-safe keys (any non-null value works, since the
/// key also says whether the value was NULL).
fn stand_in(ty: ScalarType) -> Datum {
    let text = match ty {
        ScalarType::Bool => "false",
        ScalarType::Text | ScalarType::Bytes => "",
        ScalarType::Jsonb => "null",
        ScalarType::Date | ScalarType::Timestamp | ScalarType::TimestampTz => "2000-01-01",
        ScalarType::Interval => "0",
        _ => "0",
    };
    freshet_repr::strconv::parse_datum(text, ty).unwrap_or(Datum::Bool(false))
}

/// Join keys under which NULL matches NULL: `(e IS NULL, COALESCE(e, stand-in))` per expression.
pub(crate) fn null_safe(exprs: Vec<ScalarExpr>, types: &[ColumnType]) -> Vec<ScalarExpr> {
    let mut keys = Vec::with_capacity(exprs.len() * 2);
    for (e, t) in exprs.into_iter().zip(types) {
        keys.push(e.clone().call_unary(UnaryFunc::IsNull));
        keys.push(ScalarExpr::CallVariadic {
            func: VariadicFunc::Coalesce,
            exprs: vec![e, ScalarExpr::Literal(stand_in(t.scalar_type), t.scalar_type)],
        });
    }
    keys
}

pub(crate) fn columns(range: std::ops::Range<usize>) -> Vec<ScalarExpr> {
    range.map(ScalarExpr::Column).collect()
}

/// Left-outer-joins `sub` onto the current relation on the enclosing level's first `keys`
/// columns (NULL-safe) and on `extra` = the next columns of `sub` (SQL equality); returns the
/// index of `sub`'s first column.
fn attach(ecx: &ExprContext, sub: RelationExpr, keys: usize, extra: Vec<ScalarExpr>) -> Result<usize, SqlError> {
    let types = sub.typ().columns;
    let mut left_key = null_safe(columns(0..keys), &types);
    let mut right_key = null_safe(columns(0..keys), &types);
    right_key.extend(columns(keys..keys + extra.len()));
    left_key.extend(extra);
    if let Some(grouping) = ecx.grouping {
        return Ok(grouping.defer_join_on(sub, left_key, right_key));
    }
    let cell = ecx.rel.ok_or_else(|| SqlError::Unsupported(format!("subqueries in {}", ecx.clause)))?;
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

/// `rel` (keys, one value) with the value replaced by an error where its key has several rows.
fn single_row_checked(rel: RelationExpr, keys: usize) -> RelationExpr {
    let count = AggregateExpr { func: AggregateFunc::Count, expr: ScalarExpr::literal_true(), distinct: false };
    let counts = RelationExpr::Reduce {
        input: Box::new(rel.clone().project((0..keys).collect())),
        group_key: columns(0..keys),
        aggregates: vec![count],
    };
    let types = rel.typ().columns;
    let joined = RelationExpr::Join {
        left: Box::new(rel),
        right: Box::new(counts),
        left_key: null_safe(columns(0..keys), &types),
        right_key: null_safe(columns(0..keys), &types),
        residual: vec![],
        kind: JoinKind::Inner,
    };
    let several = ScalarExpr::Column(2 * keys + 1)
        .call_binary(ScalarExpr::Literal(Datum::Int64(1), ScalarType::Int64), BinaryFunc::Gt);
    let value =
        ScalarExpr::CallVariadic { func: VariadicFunc::SingleRowCheck, exprs: vec![several, ScalarExpr::Column(keys)] };
    super::select::project_exprs(joined, columns(0..keys).into_iter().chain([value]).collect())
}

pub(crate) fn plan_exists(ecx: &ExprContext, q: &ast::Query, negated: bool) -> Result<Planned, SqlError> {
    let sub = plan_sub(ecx, q)?;
    let k = sub.keys;
    let c = attach(ecx, marker(sub.rel, k), k, vec![])?;
    let found = ScalarExpr::Column(c + k).call_unary(UnaryFunc::IsNull);
    let expr = if negated { found } else { found.call_unary(UnaryFunc::Not) };
    Ok(Planned::Typed(TypedExpr::new(expr, ColumnType::new(ScalarType::Bool, false))))
}

/// A scalar subquery: its one value, NULL without rows, error 21000 with several. (An aggregate
/// without GROUP BY always has its row, defaults included, by construction of the subquery.)
pub(crate) fn plan_scalar_subquery(ecx: &ExprContext, q: &ast::Query) -> Result<Planned, SqlError> {
    let sub = plan_sub(ecx, q)?;
    if sub.value_types.len() != 1 {
        return Err(SqlError::Parse("subquery must return only one column".into()));
    }
    let typ = ColumnType::new(sub.value_types[0].scalar_type, true);
    let k = sub.keys;
    let c = attach(ecx, single_row_checked(sub.rel, k), k, vec![])?;
    Ok(Planned::Typed(TypedExpr::new(ScalarExpr::Column(c + k), typ)))
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
    let sub = plan_sub(ecx, q)?;
    if sub.value_types.len() != 1 {
        return Err(SqlError::Parse("subquery has too many columns".into()));
    }
    let sub_type = sub.value_types[0];
    let target =
        freshet_expr::func::common_type(&[x.scalar_type().unwrap_or(sub_type.scalar_type), sub_type.scalar_type])?;
    let x = ecx.coerce(x, target)?;
    let k = sub.keys;
    let value = ecx.coerce(Planned::Typed(TypedExpr::new(ScalarExpr::Column(k), sub_type)), target)?;
    let rel = super::select::project_exprs(sub.rel, columns(0..k).into_iter().chain([value.expr]).collect());

    let has_null = marker(rel.clone().filter(vec![ScalarExpr::Column(k).call_unary(UnaryFunc::IsNull)]), k);
    let nonempty = marker(rel.clone(), k);
    let matched = attach(ecx, rel.distinct(), k, vec![x.expr.clone()])? + k;
    let null_seen = attach(ecx, has_null, k, vec![])? + k;
    let any_rows = attach(ecx, nonempty, k, vec![])? + k;

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
