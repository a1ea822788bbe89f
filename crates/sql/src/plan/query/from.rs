//! FROM: relations (catalog items, CTEs, derived tables, VALUES, table functions) and joins, with
//! equality conjuncts between the two sides turned into join keys.

use freshet_expr::func::{BinaryFunc, VariadicFunc};
use freshet_expr::{table_func, JoinKind, RelationExpr, ScalarExpr};
use freshet_repr::{ColumnType, RelationDesc, RelationType, Row};
use sqlparser::ast;

use super::expr::{conjuncts, plan_expr, ExprContext};
use super::scope::{normalize_ident, object_name, Scope, ScopeItem};
use super::subquery::is_correlation_error;
use super::{setop, subquery, Correlation, QueryContext};
use crate::catalog::ItemKind;
use crate::SqlError;

type Planned = (RelationExpr, Scope);

/// The relation with one empty row: the input of a SELECT without FROM.
pub(crate) fn unit() -> RelationExpr {
    RelationExpr::Constant { rows: vec![(Row::empty(), 1)], typ: RelationType::default() }
}

/// Plans a FROM list; comma-separated items are cross joined (WHERE's equalities become keys
/// later, see [`filter_into`]).
pub(crate) fn plan_from(
    qcx: &QueryContext,
    from: &[ast::TableWithJoins],
    outer: &[Scope],
) -> Result<Planned, SqlError> {
    let mut acc: Option<Planned> = None;
    for twj in from {
        acc = Some(match acc {
            // A function after a comma may read earlier items (implicitly LATERAL).
            Some(left) if twj.joins.is_empty() && is_function(&twj.relation) => {
                plan_function_factor(qcx, left, &twj.relation, outer)?
            }
            Some(left)
                if twj.joins.is_empty() && matches!(twj.relation, ast::TableFactor::Derived { lateral: true, .. }) =>
            {
                plan_lateral(qcx, left, &twj.relation, outer)?
            }
            Some(left) => {
                let right = plan_table_with_joins(qcx, twj, outer)?;
                join(qcx, left, right, JoinKind::Inner, &ast::JoinConstraint::None, outer)?
            }
            None => plan_table_with_joins(qcx, twj, outer)?,
        });
    }
    Ok(acc.unwrap_or_else(|| (unit(), Scope::default())))
}

fn is_function(factor: &ast::TableFactor) -> bool {
    matches!(factor, ast::TableFactor::Function { .. } | ast::TableFactor::Table { args: Some(_), .. })
}

fn plan_table_with_joins(qcx: &QueryContext, twj: &ast::TableWithJoins, outer: &[Scope]) -> Result<Planned, SqlError> {
    let mut acc = plan_factor(qcx, &twj.relation, outer)?;
    for j in &twj.joins {
        use ast::JoinOperator as J;
        let (kind, constraint) = match &j.join_operator {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
            J::CrossJoin(c) => (JoinKind::Inner, c),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::LeftOuter, c),
            J::Right(c) | J::RightOuter(c) => (JoinKind::RightOuter, c),
            J::FullOuter(c) => (JoinKind::FullOuter, c),
            other => return Err(SqlError::Unsupported(format!("join {other:?}"))),
        };
        if matches!(j.relation, ast::TableFactor::Derived { lateral: true, .. }) && kind == JoinKind::Inner {
            let (rel, scope) = plan_lateral(qcx, acc, &j.relation, outer)?;
            acc = apply_on(qcx, rel, scope, constraint, outer)?;
        } else if is_function(&j.relation) && kind == JoinKind::Inner {
            let (rel, scope) = plan_function_factor(qcx, acc, &j.relation, outer)?;
            acc = apply_on(qcx, rel, scope, constraint, outer)?;
        } else {
            let right = plan_factor(qcx, &j.relation, outer)?;
            acc = join(qcx, acc, right, kind, constraint, outer)?;
        }
    }
    Ok(acc)
}

/// `, LATERAL (subquery)`: uncorrelated, a cross join; correlated, planned once per distinct left
/// row (see `subquery`) and joined back on all left columns, NULL-safely.
fn plan_lateral(
    qcx: &QueryContext,
    left: Planned,
    factor: &ast::TableFactor,
    outer: &[Scope],
) -> Result<Planned, SqlError> {
    let ast::TableFactor::Derived { subquery, alias, .. } = factor else {
        return Err(SqlError::Unsupported(format!("FROM item {factor}")));
    };
    let mut scopes = outer.to_vec();
    scopes.push(left.1.clone());
    match setop::plan_query(qcx, subquery, &scopes) {
        Ok(planned) => {
            let scope = aliased(Scope::from_desc(None, &planned.desc), alias.as_ref())?;
            join(qcx, left, (planned.into_relation(), scope), JoinKind::Inner, &ast::JoinConstraint::None, outer)
        }
        Err(e) if is_correlation_error(&e) => {
            // Decorrelated: planned once per distinct row of the left side, joined back on it.
            let (lrel, lscope) = left;
            let la = lscope.arity();
            let corr = Correlation { rel: lrel.clone().distinct(), scope: lscope.clone().into_correlated() };
            let (sub_rel, k, desc) = match subquery::plan_with_correlation(qcx, subquery, outer, corr) {
                Ok(planned) => planned,
                Err(inner) if is_correlation_error(&inner) => return Err(e),
                Err(inner) => return Err(inner),
            };
            let types = sub_rel.typ().columns;
            let join = RelationExpr::Join {
                left: Box::new(lrel),
                right: Box::new(sub_rel),
                left_key: subquery::null_safe(subquery::columns(0..la), &types),
                right_key: subquery::null_safe(subquery::columns(0..k), &types),
                residual: vec![],
                kind: JoinKind::Inner,
            };
            let rel = join.project((0..la).chain(la + k..la + k + desc.arity()).collect());
            let scope = aliased(Scope::from_desc(None, &desc), alias.as_ref())?;
            Ok((rel, lscope.concat(scope)))
        }
        Err(e) => Err(e),
    }
}

/// `JOIN f(...) ON cond` for a table function: the FlatMap already paired the rows; ON filters.
fn apply_on(
    qcx: &QueryContext,
    rel: RelationExpr,
    scope: Scope,
    constraint: &ast::JoinConstraint,
    outer: &[Scope],
) -> Result<Planned, SqlError> {
    match constraint {
        ast::JoinConstraint::None => Ok((rel, scope)),
        ast::JoinConstraint::On(e) => {
            let ecx = ExprContext::new(qcx, &scope, "JOIN/ON").with_outer(outer);
            let pred = ecx.predicate(plan_expr(&ecx, e)?)?;
            Ok((rel.filter(vec![pred]), scope))
        }
        _ => Err(SqlError::Unsupported("USING or NATURAL with a table function".into())),
    }
}

fn plan_factor(qcx: &QueryContext, factor: &ast::TableFactor, outer: &[Scope]) -> Result<Planned, SqlError> {
    match factor {
        ast::TableFactor::Table { name, alias, args: None, with_ordinality: false, .. } => {
            let name = object_name(name)?;
            let (rel, desc) = resolve_relation(qcx, &name)?;
            let scope = Scope::from_desc(Some(&name), &desc);
            Ok((rel, aliased(scope, alias.as_ref())?))
        }
        ast::TableFactor::Derived { subquery, alias, .. } => {
            let planned = setop::plan_query(qcx, subquery, outer)?;
            let scope = Scope::from_desc(None, &planned.desc);
            Ok((planned.into_relation(), aliased(scope, alias.as_ref())?))
        }
        ast::TableFactor::NestedJoin { table_with_joins, alias } => {
            let (rel, scope) = plan_table_with_joins(qcx, table_with_joins, outer)?;
            Ok((rel, aliased(scope, alias.as_ref())?))
        }
        f if is_function(f) => plan_function_factor(qcx, (unit(), Scope::default()), f, outer),
        other => Err(SqlError::Unsupported(format!("FROM item {other}"))),
    }
}

fn aliased(scope: Scope, alias: Option<&ast::TableAlias>) -> Result<Scope, SqlError> {
    match alias {
        Some(a) => scope.with_alias(a),
        None => Ok(scope),
    }
}

/// A CTE in scope, or a catalog relation (views are inlined).
fn resolve_relation(qcx: &QueryContext, name: &str) -> Result<(RelationExpr, RelationDesc), SqlError> {
    if let Some(cte) = qcx.ctes.borrow().iter().rev().find(|c| c.name == name) {
        return Ok((cte.expr.clone(), cte.desc.clone()));
    }
    let item = qcx.catalog.resolve(name).ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
    let rel = match item.kind {
        ItemKind::Stored => RelationExpr::Get { id: item.id, typ: item.desc.typ.clone() },
        ItemKind::View(expr) => expr,
    };
    Ok((rel, item.desc))
}

/// A table function in FROM, appended to each row of `left` (whose columns its arguments may read).
fn plan_function_factor(
    qcx: &QueryContext,
    left: Planned,
    factor: &ast::TableFactor,
    outer: &[Scope],
) -> Result<Planned, SqlError> {
    let (name, args, alias) = match factor {
        ast::TableFactor::Function { name, args, alias, with_ordinality: false, .. } => (name, args.as_slice(), alias),
        ast::TableFactor::Table { name, args: Some(a), alias, with_ordinality: false, .. } => {
            (name, a.args.as_slice(), alias)
        }
        _ => return Err(SqlError::Unsupported(format!("FROM item {factor}"))),
    };
    let fname = object_name(name)?;
    let (rel, scope) = left;
    let ecx = ExprContext::new(qcx, &scope, "FROM").with_outer(outer);
    let mut operands = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                let planned = plan_expr(&ecx, e)?;
                operands.push(ecx.operand(planned, None));
            }
            other => return Err(SqlError::Unsupported(format!("argument {other} of {fname}"))),
        }
    }
    let (func, exprs) = table_func::plan_table_function(&fname, operands)?;
    let types = func.output_type();
    let names = func.output_names();
    // A function of one column names it after itself, or after the alias if there is one.
    let single = names.len() == 1 && names[0] == fname;
    let table = alias.as_ref().map(|a| normalize_ident(&a.name)).unwrap_or_else(|| fname.clone());
    let items = names
        .iter()
        .zip(types)
        .map(|(n, t)| {
            let column = if single { table.clone() } else { n.to_string() };
            ScopeItem::new(Some(table.clone()), column, t)
        })
        .collect();
    let new_scope = aliased(Scope { items }, alias.as_ref())?;
    let rel = RelationExpr::FlatMap { input: Box::new(rel), func, exprs };
    Ok((rel, scope.concat(new_scope)))
}

fn nullable(mut scope: Scope, yes: bool) -> Scope {
    if yes {
        for item in &mut scope.items {
            item.typ.nullable = true;
        }
    }
    scope
}

fn join(
    qcx: &QueryContext,
    (lrel, lscope): Planned,
    (rrel, rscope): Planned,
    kind: JoinKind,
    constraint: &ast::JoinConstraint,
    outer: &[Scope],
) -> Result<Planned, SqlError> {
    let lscope = nullable(lscope, matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter));
    let rscope = nullable(rscope, matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter));
    let left_arity = lscope.arity();
    let names = match constraint {
        ast::JoinConstraint::Using(names) => names.iter().map(object_name).collect::<Result<Vec<_>, _>>()?,
        ast::JoinConstraint::Natural => {
            let right_names: Vec<&str> = rscope.items.iter().filter(|i| i.in_star).map(|i| i.name.as_str()).collect();
            lscope
                .items
                .iter()
                .filter(|i| i.in_star && right_names.contains(&i.name.as_str()))
                .map(|i| i.name.clone())
                .collect()
        }
        ast::JoinConstraint::On(e) => {
            let scope = lscope.concat(rscope);
            let ecx = ExprContext::new(qcx, &scope, "JOIN/ON").with_outer(outer);
            let pred = ecx.predicate(plan_expr(&ecx, e)?)?;
            let mut preds = Vec::new();
            conjuncts(pred, &mut preds);
            let mut join = RelationExpr::Join {
                left: Box::new(lrel),
                right: Box::new(rrel),
                left_key: vec![],
                right_key: vec![],
                residual: vec![],
                kind,
            };
            add_join_predicates(&mut join, left_arity, preds);
            return Ok((join, scope));
        }
        ast::JoinConstraint::None => {
            let join = RelationExpr::Join {
                left: Box::new(lrel),
                right: Box::new(rrel),
                left_key: vec![],
                right_key: vec![],
                residual: vec![],
                kind,
            };
            return Ok((join, lscope.concat(rscope)));
        }
        ast::JoinConstraint::UsingAlias(..) => return Err(SqlError::Unsupported("USING ... AS".into())),
    };
    using_join((lrel, lscope), (rrel, rscope), kind, &names)
}

/// `USING (a, ...)` / NATURAL: equi-join on the named columns, which then appear once, first.
fn using_join(
    (lrel, mut lscope): Planned,
    (rrel, mut rscope): Planned,
    kind: JoinKind,
    names: &[String],
) -> Result<Planned, SqlError> {
    let (la, ra) = (lscope.arity(), rscope.arity());
    let (mut left_key, mut right_key, mut merged, mut items) = (vec![], vec![], vec![], vec![]);
    for name in names {
        let li = lscope.resolve(None, name)?.ok_or_else(|| SqlError::UnknownColumn(name.clone()))?;
        let ri = rscope.resolve(None, name)?.ok_or_else(|| SqlError::UnknownColumn(name.clone()))?;
        let (lt, rt) = (lscope.items[li].typ, rscope.items[ri].typ);
        let target = freshet_expr::func::common_type(&[lt.scalar_type, rt.scalar_type])?;
        let cast = |i: usize, t: ColumnType| -> Result<ScalarExpr, SqlError> {
            let typed = freshet_expr::TypedExpr::new(ScalarExpr::Column(i), t);
            let op = freshet_expr::func::Operand::Typed(typed);
            Ok(freshet_expr::func::plan_cast(op, target, freshet_expr::func::CastContext::Implicit)?.expr)
        };
        left_key.push(cast(li, lt)?);
        right_key.push(cast(ri, rt)?);
        let (l, r) = (cast(li, lt)?, {
            let mut e = cast(ri, rt)?;
            e.permute(&|c| c + la);
            e
        });
        merged.push(match kind {
            JoinKind::Inner | JoinKind::LeftOuter => l,
            JoinKind::RightOuter => r,
            JoinKind::FullOuter => ScalarExpr::CallVariadic { func: VariadicFunc::Coalesce, exprs: vec![l, r] },
        });
        let nullable = match kind {
            JoinKind::Inner => lt.nullable && rt.nullable,
            JoinKind::LeftOuter => lt.nullable,
            JoinKind::RightOuter => rt.nullable,
            JoinKind::FullOuter => lt.nullable && rt.nullable,
        };
        items.push(ScopeItem::new(None, name.clone(), ColumnType::new(target, nullable)));
        for (scope, i) in [(&mut lscope, li), (&mut rscope, ri)] {
            scope.items[i].in_star = false;
            scope.items[i].unqualified = false;
        }
    }
    let k = merged.len();
    let join =
        RelationExpr::Join { left: Box::new(lrel), right: Box::new(rrel), left_key, right_key, residual: vec![], kind };
    let outputs = (la + ra..la + ra + k).chain(0..la + ra).collect();
    let rel = join.map(merged).project(outputs);
    Ok((rel, Scope { items }.concat(lscope).concat(rscope)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Neither,
    Left,
    Right,
    Both,
}

fn side(e: &ScalarExpr, left_arity: usize) -> Side {
    let mut side = Side::Neither;
    e.visit(&mut |x| {
        if let ScalarExpr::Column(c) = x {
            let this = if *c < left_arity { Side::Left } else { Side::Right };
            side = match side {
                Side::Neither => this,
                s if s == this => s,
                _ => Side::Both,
            };
        }
    });
    side
}

fn shifted(mut e: ScalarExpr, by: usize) -> ScalarExpr {
    e.permute(&|c| c - by);
    e
}

/// Adds predicates over a join's output to it: `left = right` equalities become keys, the rest
/// residual predicates.
fn add_join_predicates(join: &mut RelationExpr, left_arity: usize, preds: Vec<ScalarExpr>) {
    let RelationExpr::Join { left_key, right_key, residual, .. } = join else {
        return;
    };
    for p in preds {
        if let ScalarExpr::CallBinary { func: BinaryFunc::Eq, expr1, expr2 } = &p {
            match (side(expr1, left_arity), side(expr2, left_arity)) {
                (Side::Left, Side::Right) => {
                    left_key.push((**expr1).clone());
                    right_key.push(shifted((**expr2).clone(), left_arity));
                    continue;
                }
                (Side::Right, Side::Left) => {
                    left_key.push((**expr2).clone());
                    right_key.push(shifted((**expr1).clone(), left_arity));
                    continue;
                }
                _ => {}
            }
        }
        residual.push(p);
    }
}

/// Filters `rel` by `preds`, pushing them into inner joins (one-sided predicates to that side,
/// equalities across the sides into the join keys) and below left joins where they only read the
/// left side.
pub(crate) fn filter_into(rel: RelationExpr, preds: Vec<ScalarExpr>) -> RelationExpr {
    if preds.is_empty() {
        return rel;
    }
    match rel {
        RelationExpr::Join { left, right, left_key, right_key, residual, kind: JoinKind::Inner } => {
            let left_arity = left.arity();
            let (mut lp, mut rp, mut both) = (vec![], vec![], vec![]);
            for p in preds {
                match side(&p, left_arity) {
                    Side::Left => lp.push(p),
                    Side::Right => rp.push(shifted(p, left_arity)),
                    Side::Both | Side::Neither => both.push(p),
                }
            }
            let mut join = RelationExpr::Join {
                left: Box::new(filter_into(*left, lp)),
                right: Box::new(filter_into(*right, rp)),
                left_key,
                right_key,
                residual,
                kind: JoinKind::Inner,
            };
            add_join_predicates(&mut join, left_arity, both);
            join
        }
        // Predicates on the preserved side of a left join commute with it (subquery joins).
        RelationExpr::Join { left, right, left_key, right_key, residual, kind: JoinKind::LeftOuter } => {
            let left_arity = left.arity();
            let (lp, above): (Vec<_>, Vec<_>) = preds.into_iter().partition(|p| side(p, left_arity) == Side::Left);
            let join = RelationExpr::Join {
                left: Box::new(filter_into(*left, lp)),
                right,
                left_key,
                right_key,
                residual,
                kind: JoinKind::LeftOuter,
            };
            join.filter(above)
        }
        other => other.filter(preds),
    }
}
