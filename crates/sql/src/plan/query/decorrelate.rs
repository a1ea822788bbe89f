//! Decorrelation of the common correlated subqueries: those whose references to the enclosing
//! query are equalities `inner = outer` among the AND-ed conjuncts of a SELECT's WHERE.
//!
//! Such a subquery is rewritten (on the AST) into an uncorrelated one that also outputs the inner
//! sides (and groups by them when it aggregates); the caller joins it to the enclosing relation on
//! `outer = inner`. Anything else stays unsupported (reported by name resolution).
//!
//! Known gap: for an aggregating IN or LATERAL subquery, an outer row whose correlation value is
//! NULL gets no row instead of the aggregate's default (e.g. `count` 0); scalar subqueries are
//! exact.

use freshet_expr::func::{self, CastContext, Operand};
use freshet_expr::{RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::ScalarType;
use sqlparser::ast;

use super::expr::{plan_expr, ExprContext};
use super::from::plan_from;
use super::func::contains_aggregate;
use super::select::project_exprs;
use super::setop::plan_query;
use crate::SqlError;

/// What the subquery's SELECT list becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// Only the correlation keys (EXISTS).
    KeysOnly,
    /// The keys followed by the original SELECT list.
    KeysAndValues,
}

/// A decorrelated subquery: its relation starts with `outer_keys.len()` key columns.
pub(crate) struct Decorrelated {
    pub rel: RelationExpr,
    /// The matching expressions over the enclosing relation.
    pub outer_keys: Vec<ScalarExpr>,
    /// The visible column types after the keys.
    pub value_types: Vec<freshet_repr::ColumnType>,
    /// Their names.
    pub value_names: Vec<String>,
    /// For an aggregate without GROUP BY: its one row over no input (`count` 0), which outer rows
    /// without a group must see instead of nothing. Use [`fill_defaults`] or test the match.
    pub defaults: Option<RelationExpr>,
}

pub(crate) fn is_correlation_error(e: &SqlError) -> bool {
    matches!(e, SqlError::Unsupported(m) if m.starts_with("correlated subqueries"))
}

fn split_and<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Expr>) {
    match e {
        ast::Expr::BinaryOp { left, op: ast::BinaryOperator::And, right } => {
            split_and(left, out);
            split_and(right, out);
        }
        ast::Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

fn and_all(conjuncts: Vec<ast::Expr>) -> Option<ast::Expr> {
    conjuncts.into_iter().reduce(|a, b| ast::Expr::BinaryOp {
        left: Box::new(a),
        op: ast::BinaryOperator::And,
        right: Box::new(b),
    })
}

/// Rewrites and plans `q` if its correlation is of the supported form; `None` otherwise.
pub(crate) fn decorrelate(ecx: &ExprContext, q: &ast::Query, output: Output) -> Result<Option<Decorrelated>, SqlError> {
    let ast::SetExpr::Select(s) = q.body.as_ref() else {
        return Ok(None);
    };
    let (Some(selection), None, None) = (&s.selection, &q.limit_clause, &s.distinct) else {
        return Ok(None);
    };
    let qcx = ecx.qcx;
    let Ok((_, inner_scope)) = plan_from(qcx, &s.from, &[]) else {
        return Ok(None);
    };
    let inner = ExprContext::new(qcx, &inner_scope, "WHERE");
    let outer_probe = ExprContext { rel: None, grouping: None, ..*ecx };
    let mut conjuncts = Vec::new();
    split_and(selection, &mut conjuncts);
    let (mut inner_keys, mut outer_keys, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for c in conjuncts {
        if plan_expr(&inner, c).is_ok() {
            rest.push(c.clone());
            continue;
        }
        let ast::Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right } = c else {
            return Ok(None);
        };
        let mut found = false;
        for (a, b) in [(left, right), (right, left)] {
            let (Ok(ia), Err(_)) = (plan_expr(&inner, a), plan_expr(&inner, b)) else { continue };
            let Ok(ob) = plan_expr(&outer_probe, b) else { continue };
            let (it, ot) = (inner.typed(ia), outer_probe.typed(ob));
            let target = func::common_type(&[it.typ.scalar_type, ot.typ.scalar_type])?;
            inner_keys.push(((**a).clone(), it, target));
            outer_keys.push(cast(ot, target)?.expr);
            found = true;
            break;
        }
        if !found {
            return Ok(None);
        }
    }
    if inner_keys.is_empty() {
        return Ok(None);
    }
    let group_by = match &s.group_by {
        ast::GroupByExpr::Expressions(g, m) if m.is_empty() => g.clone(),
        _ => return Ok(None),
    };
    let aggregating = !group_by.is_empty()
        || s.having.is_some()
        || s.projection.iter().any(|i| match i {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => contains_aggregate(e),
            _ => false,
        });
    let global = aggregating && group_by.is_empty();
    let mut rewritten = s.as_ref().clone();
    rewritten.selection = and_all(rest.clone());
    let key_items = inner_keys.iter().map(|(e, _, _)| ast::SelectItem::UnnamedExpr(e.clone()));
    rewritten.projection = match output {
        Output::KeysOnly => key_items.collect(),
        Output::KeysAndValues => key_items.chain(s.projection.iter().cloned()).collect(),
    };
    if aggregating {
        let keys = group_by.iter().cloned().chain(inner_keys.iter().map(|(e, _, _)| e.clone())).collect();
        rewritten.group_by = ast::GroupByExpr::Expressions(keys, vec![]);
    }
    let mut outer_scopes = ecx.outer.to_vec();
    outer_scopes.push(ecx.scope.clone());
    let query = ast::Query { body: Box::new(ast::SetExpr::Select(Box::new(rewritten))), order_by: None, ..q.clone() };
    let planned = plan_query(qcx, &query, &outer_scopes)?;
    let k = inner_keys.len();
    let value_types = planned.desc.typ.columns[k..].to_vec();
    let value_names = planned.desc.names[k..].to_vec();
    let columns = planned.desc.typ.columns.clone();
    let mut exprs = Vec::with_capacity(columns.len());
    for (i, typ) in columns.iter().enumerate() {
        let column = TypedExpr::new(ScalarExpr::Column(i), *typ);
        exprs.push(match inner_keys.get(i) {
            Some((_, _, target)) => cast(column, *target)?.expr,
            None => column.expr,
        });
    }
    let rel = project_exprs(planned.into_relation(), exprs);
    let defaults = if global && output == Output::KeysAndValues {
        Some(plan_defaults(ecx, q, s, rest, &outer_scopes)?)
    } else {
        None
    };
    Ok(Some(Decorrelated { rel, outer_keys, value_types, value_names, defaults }))
}

fn cast(t: TypedExpr, target: ScalarType) -> Result<TypedExpr, SqlError> {
    Ok(func::plan_cast(Operand::Typed(t), target, CastContext::Implicit)?)
}

/// The subquery over no rows: its WHERE made false, which leaves the aggregates' defaults.
fn plan_defaults(
    ecx: &ExprContext,
    q: &ast::Query,
    s: &ast::Select,
    rest: Vec<ast::Expr>,
    outer_scopes: &[super::Scope],
) -> Result<RelationExpr, SqlError> {
    let mut empty = s.clone();
    let never = ast::Expr::value(ast::Value::Boolean(false));
    empty.selection = and_all(rest.into_iter().chain([never]).collect());
    let query = ast::Query { body: Box::new(ast::SetExpr::Select(Box::new(empty))), order_by: None, ..q.clone() };
    Ok(plan_query(ecx.qcx, &query, outer_scopes)?.into_relation())
}

/// Adds the default row for each outer key with no group:
/// `rel + (distinct outer keys - keys of rel) x defaults`. (An outer key that is NULL matches no
/// group and gets no default; callers that can test the match instead do so.)
pub(crate) fn fill_defaults(outer: RelationExpr, sub: Decorrelated) -> (RelationExpr, Vec<ScalarExpr>) {
    let Some(defaults) = sub.defaults else {
        return (sub.rel, sub.outer_keys);
    };
    let k = sub.outer_keys.len();
    let arity = outer.arity();
    let outer_distinct = outer.map(sub.outer_keys.clone()).project((arity..arity + k).collect()).distinct();
    let present = sub.rel.clone().project((0..k).collect()).distinct();
    let missing = outer_distinct.union(present.negate()).threshold();
    let filled = RelationExpr::Join {
        left: Box::new(missing),
        right: Box::new(defaults),
        left_key: vec![],
        right_key: vec![],
        residual: vec![],
        kind: freshet_expr::JoinKind::Inner,
    };
    (sub.rel.union(filled), sub.outer_keys)
}
