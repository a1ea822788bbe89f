//! One SELECT block: FROM, WHERE, GROUP BY/HAVING with aggregates, the select list, DISTINCT, and
//! the ORDER BY of the query it heads (which may need hidden columns). A decorrelated subquery's
//! SELECT also cross joins the enclosing query's distinct columns into its FROM, outputs them
//! first and groups by them (see `subquery`).

use std::cell::RefCell;

use freshet_expr::relation::ColumnOrder;
use freshet_expr::{RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::{ColumnType, RelationDesc, RelationType, Row};
use sqlparser::ast;

use super::expr::{column_name, conjuncts, plan_expr, ExprContext};
use super::from::{filter_into, plan_from};
use super::func::{contains_aggregate, default_row, Grouping, PendingJoin, PENDING_BASE};
use super::scope::{normalize_ident, object_name, Scope};
use super::{Correlation, PlannedQuery, QueryContext};
use crate::SqlError;

/// One select list entry after `*` expansion.
enum Term<'q> {
    Expr(&'q ast::Expr),
    Column(usize),
}

pub(crate) fn take(cell: &RefCell<RelationExpr>) -> RelationExpr {
    cell.replace(RelationExpr::Constant { rows: vec![], typ: RelationType::default() })
}

pub(crate) fn plan_select(
    qcx: &QueryContext,
    s: &ast::Select,
    order_by: &[ast::OrderByExpr],
    outer: &[Scope],
    correlation: Option<&Correlation>,
) -> Result<PlannedQuery, SqlError> {
    reject_unsupported(s)?;
    let (rel, scope) = plan_from(qcx, &s.from, outer)?;
    // A decorrelated subquery: the enclosing query's distinct columns come first, cross joined.
    let (rel, scope) = match correlation {
        Some(c) => (cross_join(c.rel.clone(), rel), c.scope.clone().concat(scope)),
        None => (rel, scope),
    };
    let rel = RefCell::new(rel);
    if let Some(selection) = &s.selection {
        let ecx = ExprContext::new(qcx, &scope, "WHERE").with_outer(outer).with_rel(&rel);
        let pred = ecx.predicate(plan_expr(&ecx, selection)?)?;
        let mut preds = Vec::new();
        conjuncts(pred, &mut preds);
        let filtered = filter_into(take(&rel), preds);
        rel.replace(filtered);
    }
    let (terms, names) = expand_select_list(&scope, &s.projection)?;
    super::srf::check_select_list(terms.iter().filter_map(|t| match t {
        Term::Expr(e) => Some(*e),
        Term::Column(_) => None,
    }))?;
    let group_by = match &s.group_by {
        ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.as_slice(),
        _ => return Err(SqlError::Unsupported("GROUP BY ALL and GROUP BY modifiers".into())),
    };
    let aggregating = !group_by.is_empty()
        || s.having.is_some()
        || terms.iter().any(|t| matches!(t, Term::Expr(e) if contains_aggregate(e)))
        || order_by.iter().any(|o| contains_aggregate(&o.expr));
    // DISTINCT ON expressions are planned like extra ORDER BY terms; their columns key a TopK.
    let distinct_on: Vec<ast::OrderByExpr> = match &s.distinct {
        Some(ast::Distinct::On(exprs)) => exprs
            .iter()
            .map(|e| ast::OrderByExpr {
                expr: e.clone(),
                options: ast::OrderByOptions { sort: None, nulls_first: None },
                with_fill: None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let all_orders: Vec<ast::OrderByExpr> = order_by.iter().cloned().chain(distinct_on).collect();
    let base = ExprContext::new(qcx, &scope, "SELECT").with_outer(outer).with_rel(&rel);
    let (rel, outputs, hidden, mut order) = if aggregating {
        plan_grouped(base, &terms, &names, group_by, s.having.as_ref(), &all_orders, correlation)?
    } else {
        let outputs = plan_terms(&base, &terms)?;
        let mut hidden = Vec::new();
        let order = plan_order_by(&base, &all_orders, &outputs, &names, &mut hidden)?;
        (take(&rel), outputs, hidden, order)
    };
    let n = correlation.map_or(0, |c| c.scope.arity());
    let (outputs, names) = if n > 0 {
        order.iter_mut().for_each(|o| o.column += n);
        let prefix =
            scope.items[..n].iter().enumerate().map(|(i, item)| TypedExpr::new(ScalarExpr::Column(i), item.typ));
        let prefix_names = (0..n).map(|i| format!("?outer{i}?"));
        (prefix.chain(outputs).collect::<Vec<_>>(), prefix_names.chain(names).collect::<Vec<_>>())
    } else {
        (outputs, names)
    };
    let distinct_key: Vec<usize> = order.split_off(order_by.len()).into_iter().map(|o| o.column).collect();
    let visible = outputs.len();
    let desc = RelationDesc::new(names.into_iter().zip(outputs.iter().map(|o| o.typ)).collect());
    let mut expr = project_exprs(rel, outputs.into_iter().chain(hidden).map(|t| t.expr).collect());
    match &s.distinct {
        None | Some(ast::Distinct::All) => {}
        Some(ast::Distinct::Distinct) => {
            if expr.arity() != visible {
                return Err(SqlError::InvalidColumnReference(
                    "for SELECT DISTINCT, ORDER BY expressions must appear in select list".into(),
                ));
            }
            expr = expr.distinct();
        }
        Some(ast::Distinct::On(_)) => {
            if !order.iter().zip(&distinct_key).all(|(o, k)| o.column == *k) {
                return Err(SqlError::InvalidColumnReference(
                    "SELECT DISTINCT ON expressions must match initial ORDER BY expressions".into(),
                ));
            }
            expr = RelationExpr::TopK {
                input: Box::new(expr),
                group_key: (0..n).chain(distinct_key).collect(),
                order_by: order.clone(),
                limit: Some(1),
                offset: 0,
                with_ties: false,
            };
        }
    }
    let unknown = std::iter::repeat_n(false, n)
        .chain(terms.iter().map(|t| matches!(t, Term::Expr(e) if is_unknown_literal(e))))
        .collect();
    Ok(PlannedQuery { expr, desc, order_by: order, limit: None, offset: 0, unknown })
}

/// `NULL` or a string literal, which PostgreSQL leaves untyped until context decides.
fn is_unknown_literal(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Nested(inner) => is_unknown_literal(inner),
        ast::Expr::Value(v) => matches!(v.value, ast::Value::Null) || v.value.clone().into_string().is_some(),
        _ => false,
    }
}

fn reject_unsupported(s: &ast::Select) -> Result<(), SqlError> {
    let unsupported = [
        (s.top.is_some(), "TOP"),
        (s.into.is_some(), "SELECT INTO"),
        (!s.lateral_views.is_empty(), "LATERAL VIEW"),
        (s.prewhere.is_some(), "PREWHERE"),
        (!s.connect_by.is_empty(), "CONNECT BY"),
        (
            !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty(),
            "CLUSTER/DISTRIBUTE/SORT BY",
        ),
        (!s.named_window.is_empty(), "WINDOW"),
        (s.qualify.is_some(), "QUALIFY"),
    ];
    match unsupported.iter().find(|(bad, _)| *bad) {
        Some((_, what)) => Err(SqlError::Unsupported(what.to_string())),
        None => Ok(()),
    }
}

/// Keeps exactly the columns computed by `exprs`: plain column references are projected, others
/// mapped first.
pub(crate) fn project_exprs(rel: RelationExpr, exprs: Vec<ScalarExpr>) -> RelationExpr {
    let arity = rel.arity();
    let mut scalars = Vec::new();
    let mut outputs = Vec::with_capacity(exprs.len());
    for e in exprs {
        match e {
            ScalarExpr::Column(c) => outputs.push(c),
            other => {
                outputs.push(arity + scalars.len());
                scalars.push(other);
            }
        }
    }
    if scalars.is_empty() && outputs.iter().copied().eq(0..arity) {
        return rel;
    }
    rel.map(scalars).project(outputs)
}

fn expand_select_list<'q>(
    scope: &Scope,
    projection: &'q [ast::SelectItem],
) -> Result<(Vec<Term<'q>>, Vec<String>), SqlError> {
    let (mut terms, mut names) = (Vec::new(), Vec::new());
    for item in projection {
        let columns = match item {
            ast::SelectItem::UnnamedExpr(e) => {
                terms.push(Term::Expr(e));
                names.push(column_name(e).unwrap_or_else(|| "?column?".into()));
                continue;
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                terms.push(Term::Expr(expr));
                names.push(normalize_ident(alias));
                continue;
            }
            ast::SelectItem::Wildcard(_) => {
                if scope.arity() == 0 {
                    return Err(SqlError::Parse("SELECT * with no tables specified is not valid".into()));
                }
                scope.star(None)?
            }
            ast::SelectItem::QualifiedWildcard(ast::SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                scope.star(Some(&object_name(name)?))?
            }
            other => return Err(SqlError::Unsupported(format!("select item {other}"))),
        };
        for c in columns {
            terms.push(Term::Column(c));
            names.push(scope.items[c].name.clone());
        }
    }
    Ok((terms, names))
}

fn plan_term(ecx: &ExprContext, term: &Term) -> Result<TypedExpr, SqlError> {
    match (term, ecx.grouping) {
        (Term::Column(c), None) => Ok(TypedExpr::new(ScalarExpr::Column(*c), ecx.scope.items[*c].typ)),
        (Term::Column(c), Some(g)) => g.input_column(*c, &ecx.scope.items[*c].name),
        (Term::Expr(e), _) => {
            let planned = plan_expr(ecx, e)?;
            Ok(ecx.typed(planned))
        }
    }
}

fn plan_terms(ecx: &ExprContext, terms: &[Term]) -> Result<Vec<TypedExpr>, SqlError> {
    terms.iter().map(|t| plan_term(ecx, t)).collect()
}

type GroupedPlan = (RelationExpr, Vec<TypedExpr>, Vec<TypedExpr>, Vec<ColumnOrder>);

fn plan_grouped(
    base: ExprContext,
    terms: &[Term],
    names: &[String],
    group_by: &[ast::Expr],
    having: Option<&ast::Expr>,
    order_by: &[ast::OrderByExpr],
    correlation: Option<&Correlation>,
) -> Result<GroupedPlan, SqlError> {
    let rel = base.rel.ok_or_else(|| SqlError::Unsupported("grouping here".into()))?;
    let key_ecx = ExprContext { clause: "GROUP BY", ..base };
    // A decorrelated subquery groups by the enclosing query's columns first.
    let n = correlation.map_or(0, |c| c.scope.arity());
    let mut keys: Vec<TypedExpr> = base.scope.items[..n]
        .iter()
        .enumerate()
        .map(|(i, item)| TypedExpr::new(ScalarExpr::Column(i), item.typ))
        .collect();
    for g in group_by {
        let key = plan_group_key(&key_ecx, g, terms, names)?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let grouping = Grouping::new(rel, keys);
    let gecx = base.with_grouping(&grouping);
    let outputs = plan_terms(&gecx, terms)?;
    let having = match having {
        Some(h) => {
            let hecx = ExprContext { clause: "HAVING", ..gecx };
            Some(hecx.predicate(plan_expr(&hecx, h)?)?)
        }
        None => None,
    };
    let mut hidden = Vec::new();
    let order = plan_order_by(&gecx, order_by, &outputs, names, &mut hidden)?;
    let aggregates = grouping.aggs.take();
    let input = take(rel);
    let input_types = input.typ().columns;
    let agg_types: Vec<ColumnType> = aggregates.iter().map(|a| a.output_type(&input_types)).collect();
    let reduce_arity = grouping.keys.len() + aggregates.len();
    let mut reduce = RelationExpr::Reduce {
        input: Box::new(input),
        group_key: grouping.keys.iter().map(|k| k.expr.clone()).collect(),
        aggregates: aggregates.clone(),
    };
    if grouping.keys.is_empty() {
        reduce = with_default_row(reduce, &aggregates, &agg_types);
    } else if let Some(c) = correlation.filter(|_| grouping.keys.len() == n) {
        reduce = with_default_rows(reduce, c.rel.clone(), n, &aggregates, &agg_types);
    }
    // Subquery columns were numbered from PENDING_BASE; they follow the Reduce's columns.
    let fix = |e: &mut ScalarExpr| e.permute(&|c| if c >= PENDING_BASE { reduce_arity + c - PENDING_BASE } else { c });
    for PendingJoin { rel: sub, mut left_key, right_key } in grouping.pending.take() {
        left_key.iter_mut().for_each(fix);
        reduce = RelationExpr::Join {
            left: Box::new(reduce),
            right: Box::new(sub),
            left_key,
            right_key,
            residual: vec![],
            kind: freshet_expr::JoinKind::LeftOuter,
        };
    }
    let mut having: Vec<ScalarExpr> = having.into_iter().collect();
    having.iter_mut().for_each(fix);
    let (mut outputs, mut hidden) = (outputs, hidden);
    outputs.iter_mut().chain(hidden.iter_mut()).for_each(|t| fix(&mut t.expr));
    Ok((reduce.filter(having), outputs, hidden, order))
}

/// A GROUP BY entry: an output ordinal, an input column, an output alias, or an expression.
fn plan_group_key(ecx: &ExprContext, g: &ast::Expr, terms: &[Term], names: &[String]) -> Result<TypedExpr, SqlError> {
    if contains_aggregate(g) {
        return Err(SqlError::InvalidGrouping("aggregate functions are not allowed in GROUP BY".into()));
    }
    if let Some(n) = ordinal(g) {
        let term = n
            .checked_sub(1)
            .and_then(|i| terms.get(i))
            .ok_or_else(|| SqlError::InvalidColumnReference(format!("GROUP BY position {n} is not in select list")))?;
        if matches!(term, Term::Expr(e) if contains_aggregate(e)) {
            return Err(SqlError::InvalidGrouping("aggregate functions are not allowed in GROUP BY".into()));
        }
        return plan_term(ecx, term);
    }
    if let ast::Expr::Identifier(id) = g {
        let name = normalize_ident(id);
        // Input columns take precedence over output aliases in GROUP BY.
        if ecx.scope.resolve(None, &name)?.is_none() {
            if let Some(i) = names.iter().position(|n| *n == name) {
                if matches!(&terms[i], Term::Expr(e) if contains_aggregate(e)) {
                    return Err(SqlError::InvalidGrouping("aggregate functions are not allowed in GROUP BY".into()));
                }
                return plan_term(ecx, &terms[i]);
            }
        }
    }
    let planned = plan_expr(ecx, g)?;
    Ok(ecx.typed(planned))
}

fn ordinal(e: &ast::Expr) -> Option<usize> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// SQL's one row of defaults for an aggregate without GROUP BY over empty input: the Reduce's row
/// if there is one, else `count = 0` and NULL for the others.
fn with_default_row(
    reduce: RelationExpr,
    aggregates: &[freshet_expr::AggregateExpr],
    types: &[ColumnType],
) -> RelationExpr {
    let defaults = default_row(aggregates, types);
    let typ = RelationType::new(defaults.iter().map(|(_, t)| *t).collect());
    let row: Row = defaults.iter().map(|(d, _)| d.clone()).collect();
    let literals = defaults.iter().map(|(d, t)| ScalarExpr::Literal(d.clone(), t.scalar_type)).collect();
    let present = reduce.clone().project(vec![]).map(literals);
    RelationExpr::Union { inputs: vec![reduce, RelationExpr::Constant { rows: vec![(row, 1)], typ }, present.negate()] }
}

/// [`with_default_row`] per value of the enclosing query's columns (`outer`, distinct, `n` wide)
/// that has no group: `reduce + (outer - keys of reduce) x defaults`.
fn with_default_rows(
    reduce: RelationExpr,
    outer: RelationExpr,
    n: usize,
    aggregates: &[freshet_expr::AggregateExpr],
    types: &[ColumnType],
) -> RelationExpr {
    let defaults = default_row(aggregates, types);
    let typ = RelationType::new(defaults.iter().map(|(_, t)| *t).collect());
    let row: Row = defaults.iter().map(|(d, _)| d.clone()).collect();
    // Both are sets and the keys of `reduce` are a subset of `outer` (it was cross joined in).
    let missing = outer.union(reduce.clone().project((0..n).collect()).negate());
    let filled = cross_join(missing, RelationExpr::Constant { rows: vec![(row, 1)], typ });
    reduce.union(filled)
}

pub(crate) fn cross_join(left: RelationExpr, right: RelationExpr) -> RelationExpr {
    RelationExpr::Join {
        left: Box::new(left),
        right: Box::new(right),
        left_key: vec![],
        right_key: vec![],
        residual: vec![],
        kind: freshet_expr::JoinKind::Inner,
    }
}

/// ORDER BY terms over the select list: output names and ordinals first, then expressions (as
/// hidden columns after the visible ones when not already output).
pub(crate) fn plan_order_by(
    ecx: &ExprContext,
    order_by: &[ast::OrderByExpr],
    outputs: &[TypedExpr],
    names: &[String],
    hidden: &mut Vec<TypedExpr>,
) -> Result<Vec<ColumnOrder>, SqlError> {
    let mut orders = Vec::with_capacity(order_by.len());
    for o in order_by {
        let column = match output_reference(&o.expr, names)? {
            Some(c) => c,
            None => {
                let ecx = ExprContext { clause: "ORDER BY", ..*ecx };
                let planned = plan_expr(&ecx, &o.expr)?;
                let typed = ecx.typed(planned);
                match outputs.iter().position(|t| t.expr == typed.expr) {
                    Some(c) => c,
                    None => match hidden.iter().position(|t| t.expr == typed.expr) {
                        Some(h) => outputs.len() + h,
                        None => {
                            hidden.push(typed);
                            outputs.len() + hidden.len() - 1
                        }
                    },
                }
            }
        };
        orders.push(column_order(column, &o.options)?);
    }
    Ok(orders)
}

/// An ORDER BY entry naming an output column by ordinal or by (unique) output name.
pub(crate) fn output_reference(e: &ast::Expr, names: &[String]) -> Result<Option<usize>, SqlError> {
    if let Some(n) = ordinal(e) {
        return match n.checked_sub(1).filter(|&i| i < names.len()) {
            Some(i) => Ok(Some(i)),
            None => Err(SqlError::InvalidColumnReference(format!("ORDER BY position {n} is not in select list"))),
        };
    }
    if let ast::Expr::Identifier(id) = e {
        let name = normalize_ident(id);
        let mut matches = names.iter().enumerate().filter(|(_, n)| **n == name).map(|(i, _)| i);
        if let Some(first) = matches.next() {
            if matches.next().is_some() {
                return Err(SqlError::AmbiguousColumn(name));
            }
            return Ok(Some(first));
        }
    }
    Ok(None)
}

/// PostgreSQL sorts NULLs last ascending and first descending unless told otherwise.
pub(crate) fn column_order(column: usize, options: &ast::OrderByOptions) -> Result<ColumnOrder, SqlError> {
    let desc = match &options.sort {
        None | Some(ast::OrderBySort::Asc) => false,
        Some(ast::OrderBySort::Desc) => true,
        Some(ast::OrderBySort::Using(_)) => return Err(SqlError::Unsupported("ORDER BY ... USING".into())),
    };
    let nulls_first = options.nulls_first.unwrap_or(desc);
    Ok(ColumnOrder { column, desc, nulls_last: !nulls_first })
}
