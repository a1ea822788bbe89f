//! Whole queries: WITH, the set operations (UNION/EXCEPT/INTERSECT [ALL]) with their column type
//! coercion, VALUES, and ORDER BY/LIMIT/OFFSET.

use freshet_expr::func::{self, CastContext, Operand};
use freshet_expr::{RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::{ColumnType, Datum, RelationDesc, RelationType, Row, ScalarType};
use sqlparser::ast;

use super::expr::{common_type_of, plan_expr, ExprContext, Planned};
use super::from::unit;
use super::scope::{normalize_ident, Scope};
use super::select::{column_order, output_reference, plan_select, project_exprs};
use super::{CteDef, PlannedQuery, QueryContext};
use crate::SqlError;

/// Plans a query at any nesting level; `outer` are the scopes of enclosing queries.
pub(crate) fn plan_query(qcx: &QueryContext, q: &ast::Query, outer: &[Scope]) -> Result<PlannedQuery, SqlError> {
    if q.fetch.is_some() || !q.locks.is_empty() || q.for_clause.is_some() || q.settings.is_some() {
        return Err(SqlError::Unsupported("FETCH, FOR UPDATE, FOR and SETTINGS clauses".into()));
    }
    if q.format_clause.is_some() || !q.pipe_operators.is_empty() {
        return Err(SqlError::Unsupported("FORMAT clauses and pipe operators".into()));
    }
    let cte_mark = qcx.ctes.borrow().len();
    let result = plan_query_body(qcx, q, outer);
    qcx.ctes.borrow_mut().truncate(cte_mark);
    result
}

fn plan_query_body(qcx: &QueryContext, q: &ast::Query, outer: &[Scope]) -> Result<PlannedQuery, SqlError> {
    // Taken first, so that CTEs and nested queries do not see it.
    let correlation = qcx.correlation.take();
    if let Some(with) = &q.with {
        if with.recursive {
            return Err(SqlError::Unsupported("WITH RECURSIVE".into()));
        }
        for cte in &with.cte_tables {
            let planned = plan_query(qcx, &cte.query, outer)?;
            let scope = Scope::from_desc(None, &planned.desc).with_alias(&cte.alias)?;
            let desc = RelationDesc::new(scope.items.into_iter().map(|i| (i.name, i.typ)).collect());
            let name = normalize_ident(&cte.alias.name);
            qcx.ctes.borrow_mut().push(CteDef { name, expr: planned.into_relation(), desc });
        }
    }
    let order_by: &[ast::OrderByExpr] = match &q.order_by {
        None => &[],
        Some(ast::OrderBy { kind: ast::OrderByKind::Expressions(exprs), .. }) => exprs,
        Some(_) => return Err(SqlError::Unsupported("ORDER BY ALL".into())),
    };
    let mut planned = match q.body.as_ref() {
        ast::SetExpr::Select(s) => plan_select(qcx, s, order_by, outer, correlation.as_ref())?,
        _ if correlation.is_some() => {
            return Err(SqlError::Unsupported("correlated subqueries over set operations or VALUES".into()))
        }
        body => {
            let (expr, desc, unknown) = plan_set_expr(qcx, body, outer)?;
            let mut order = Vec::with_capacity(order_by.len());
            for o in order_by {
                let column = output_reference(&o.expr, &desc.names)?.ok_or_else(|| {
                    SqlError::Unsupported(format!(
                        "ORDER BY {} over a set operation or VALUES (only output columns can be named)",
                        o.expr
                    ))
                })?;
                order.push(column_order(column, &o.options)?);
            }
            PlannedQuery { expr, desc, order_by: order, limit: None, offset: 0, unknown }
        }
    };
    let (limit, offset) = match &q.limit_clause {
        None => (None, None),
        Some(ast::LimitClause::LimitOffset { limit, offset, limit_by }) if limit_by.is_empty() => {
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        Some(_) => return Err(SqlError::Unsupported("LIMIT BY and LIMIT offset, count".into())),
    };
    planned.limit = limit.map(|l| constant_count(qcx, l, "LIMIT")).transpose()?.flatten();
    planned.offset = offset.map(|o| constant_count(qcx, o, "OFFSET")).transpose()?.flatten().unwrap_or(0);
    Ok(planned)
}

/// A LIMIT or OFFSET: a constant or a parameter. `None` for NULL (no limit) or an unbound
/// parameter while describing.
fn constant_count(qcx: &QueryContext, e: &ast::Expr, what: &str) -> Result<Option<usize>, SqlError> {
    let scope = Scope::default();
    let ecx = ExprContext::new(qcx, &scope, "LIMIT");
    let planned = plan_expr(&ecx, e)?;
    let typed =
        func::plan_cast(ecx.operand(planned, Some(ScalarType::Int64)), ScalarType::Int64, CastContext::Implicit)?;
    if !typed.expr.is_constant() {
        return Err(SqlError::InvalidParameter(format!("argument of {what} must not contain variables")));
    }
    match typed.expr.eval(&[])? {
        Datum::Null => Ok(None),
        Datum::Int64(n) if n >= 0 => Ok(usize::try_from(n).ok()),
        Datum::Int32(n) if n >= 0 => Ok(usize::try_from(n).ok()),
        Datum::Int64(_) | Datum::Int32(_) => Err(SqlError::InvalidParameter(format!("{what} must not be negative"))),
        other => Err(SqlError::InvalidParameter(format!("invalid {what} {other:?}"))),
    }
}

/// A set expression, typed: its relation (exactly the visible columns), their description, and
/// which are untyped literals.
type SetPlan = (RelationExpr, RelationDesc, Vec<bool>);

/// A set expression as a relation of exactly its visible columns.
fn plan_set_expr(qcx: &QueryContext, body: &ast::SetExpr, outer: &[Scope]) -> Result<SetPlan, SqlError> {
    match body {
        ast::SetExpr::Select(s) => {
            let planned = plan_select(qcx, s, &[], outer, None)?;
            let (desc, unknown) = (planned.desc.clone(), planned.unknown.clone());
            Ok((planned.into_relation(), desc, unknown))
        }
        ast::SetExpr::Query(q) => {
            let planned = plan_query(qcx, q, outer)?;
            let (desc, unknown) = (planned.desc.clone(), planned.unknown.clone());
            Ok((planned.into_relation(), desc, unknown))
        }
        ast::SetExpr::Values(values) => {
            let (rel, desc) = plan_values(qcx, values, outer)?;
            let unknown = vec![false; desc.arity()];
            Ok((rel, desc, unknown))
        }
        ast::SetExpr::SetOperation { left, op, set_quantifier, right } => {
            let all = match set_quantifier {
                ast::SetQuantifier::All => true,
                ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                other => return Err(SqlError::Unsupported(format!("{op} {other}"))),
            };
            let left = plan_set_expr(qcx, left, outer)?;
            let right = plan_set_expr(qcx, right, outer)?;
            set_operation(op, all, left, right)
        }
        other => Err(SqlError::Unsupported(format!("query body {other}"))),
    }
}

fn set_operation(op: &ast::SetOperator, all: bool, left: SetPlan, right: SetPlan) -> Result<SetPlan, SqlError> {
    let ((lrel, ldesc, lunknown), (rrel, rdesc, runknown)) = (left, right);
    if ldesc.arity() != rdesc.arity() {
        return Err(SqlError::Parse(format!("each {op} query must have the same number of columns")));
    }
    let mut targets = Vec::with_capacity(ldesc.arity());
    for (j, (l, r)) in ldesc.typ.columns.iter().zip(&rdesc.typ.columns).enumerate() {
        let scalar = match (lunknown[j], runknown[j]) {
            (true, false) => r.scalar_type,
            (false, true) => l.scalar_type,
            _ => func::common_type(&[l.scalar_type, r.scalar_type])?,
        };
        targets.push(ColumnType::new(scalar, l.nullable || r.nullable));
    }
    let l = cast_columns(lrel, &ldesc.typ.columns, &targets, &lunknown)?;
    let r = cast_columns(rrel, &rdesc.typ.columns, &targets, &runknown)?;
    let (l, r) = if all { (l, r) } else { (l.distinct(), r.distinct()) };
    let expr = match op {
        ast::SetOperator::Union if all => l.union(r),
        ast::SetOperator::Union => l.union(r).distinct(),
        ast::SetOperator::Except | ast::SetOperator::Minus => l.union(r.negate()).threshold(),
        // min(l, r) = l - max(l - r, 0)
        ast::SetOperator::Intersect => l.clone().union(l.union(r.negate()).threshold().negate()),
    };
    let unknown = lunknown.iter().zip(&runknown).map(|(a, b)| *a && *b).collect();
    let desc = RelationDesc::new(ldesc.names.into_iter().zip(targets).collect());
    Ok((expr, desc, unknown))
}

/// Casts the columns of `rel` from `from` to `to` where they differ (explicitly for untyped
/// literals, which may become any type).
fn cast_columns(
    rel: RelationExpr,
    from: &[ColumnType],
    to: &[ColumnType],
    unknown: &[bool],
) -> Result<RelationExpr, SqlError> {
    if from.iter().zip(to).all(|(f, t)| f.scalar_type == t.scalar_type) {
        return Ok(rel);
    }
    let mut exprs = Vec::with_capacity(from.len());
    for (i, (f, t)) in from.iter().zip(to).enumerate() {
        let column = TypedExpr::new(ScalarExpr::Column(i), *f);
        let context = if unknown[i] { CastContext::Explicit } else { CastContext::Implicit };
        exprs.push(func::plan_cast(Operand::Typed(column), t.scalar_type, context)?.expr);
    }
    Ok(project_exprs(rel, exprs))
}

/// VALUES: each column typed to the common type of its rows; constant rows become a `Constant`.
pub(crate) fn plan_values(
    qcx: &QueryContext,
    values: &ast::Values,
    outer: &[Scope],
) -> Result<(RelationExpr, RelationDesc), SqlError> {
    let scope = Scope::default();
    let ecx = ExprContext::new(qcx, &scope, "VALUES").with_outer(outer);
    let rows: Vec<Vec<Planned>> = values
        .rows
        .iter()
        .map(|row| row.content.iter().map(|e| plan_expr(&ecx, e)).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()?;
    let arity = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != arity) {
        return Err(SqlError::Parse("VALUES lists must all be the same length".into()));
    }
    let mut types = Vec::with_capacity(arity);
    for j in 0..arity {
        let column: Vec<Planned> = rows.iter().map(|r| r[j].clone()).collect();
        types.push(common_type_of(&column)?);
    }
    let typed: Vec<Vec<TypedExpr>> = rows
        .into_iter()
        .map(|row| row.into_iter().zip(&types).map(|(p, t)| ecx.coerce(p, *t)).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()?;
    let columns: Vec<ColumnType> =
        (0..arity).map(|j| ColumnType::new(types[j], typed.iter().any(|r| r[j].typ.nullable))).collect();
    let names = (1..=arity).map(|i| format!("column{i}"));
    let desc = RelationDesc::new(names.zip(columns.iter().copied()).collect());
    if let Some(rows) = constant_rows(&typed) {
        return Ok((RelationExpr::Constant { rows, typ: RelationType::new(columns) }, desc));
    }
    let mut inputs: Vec<RelationExpr> =
        typed.into_iter().map(|row| unit().map(row.into_iter().map(|t| t.expr).collect())).collect();
    let expr = if inputs.len() == 1 { inputs.remove(0) } else { RelationExpr::Union { inputs } };
    Ok((expr, desc))
}

/// The rows, if every expression is a constant that evaluates without error now (errors are left
/// to the dataflow, which reports them when the query runs).
fn constant_rows(rows: &[Vec<TypedExpr>]) -> Option<Vec<(Row, i64)>> {
    rows.iter()
        .map(|row| {
            let datums: Option<Vec<Datum>> =
                row.iter().map(|t| if t.expr.is_constant() { t.expr.eval(&[]).ok() } else { None }).collect();
            datums.map(|d| (Row::new(d), 1))
        })
        .collect()
}
