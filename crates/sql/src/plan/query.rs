//! Planning of queries (SELECT, VALUES, set operations, subqueries, CTEs) and of scalar
//! expressions into the expression IR.
//!
//! This module owns name resolution and the shape of the `RelationExpr` a query becomes. It must
//! not type operators, functions or casts itself: every such decision is delegated to
//! `freshet_expr::func` / `agg` / `table_func`, so that SQL typing lives in one place.
//!
//! Layout: `scope` (names in FROM), `expr` (scalar expressions), `func` (function calls and
//! special forms), `from` (FROM and joins), `select` (one SELECT block with grouping and ORDER BY),
//! `setop` (whole queries: WITH, set operations, LIMIT), `subquery` (subqueries in expressions,
//! and the decorrelation of correlated ones), `srf` (set-returning functions in the select list).

mod expr;
mod from;
mod func;
mod scope;
mod select;
mod setop;
mod srf;
mod subquery;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_correlated;
#[cfg(test)]
mod testutil;

use std::cell::RefCell;
use std::collections::BTreeMap;

use freshet_expr::relation::ColumnOrder;
use freshet_expr::{RelationExpr, TypedExpr};
use freshet_repr::{RelationDesc, ScalarType};
use sqlparser::ast;

use crate::plan::RowSetFinishing;
use crate::{Params, SessionCatalog, SqlError};

pub(crate) use expr::ExprContext;
pub(crate) use scope::Scope;

/// State shared by every part of one statement's planning.
pub(crate) struct QueryContext<'a> {
    pub catalog: &'a dyn SessionCatalog,
    pub params: &'a Params,
    /// Parameter types inferred from their context (1-based index), for `describe`.
    pub param_types: RefCell<BTreeMap<usize, ScalarType>>,
    /// Common table expressions in scope, innermost last.
    pub ctes: RefCell<Vec<CteDef>>,
    /// The enclosing query's columns for the next query planned, set by `subquery` when it
    /// decorrelates: that query's SELECT cross joins them into its FROM and outputs them first.
    pub correlation: RefCell<Option<Correlation>>,
}

/// Distinct values of an enclosing query's columns (`rel`) and their names (`scope`, marked
/// correlated), offered to a subquery so that it can be planned without correlation.
#[derive(Clone, Debug)]
pub(crate) struct Correlation {
    pub rel: RelationExpr,
    pub scope: Scope,
}

/// One planned `WITH` entry.
#[derive(Clone, Debug)]
pub(crate) struct CteDef {
    pub name: String,
    pub expr: RelationExpr,
    pub desc: RelationDesc,
}

/// A planned query before it is either finished (top level) or embedded (subquery, view).
#[derive(Clone, Debug)]
pub(crate) struct PlannedQuery {
    /// The visible columns, possibly followed by hidden ORDER BY columns.
    pub expr: RelationExpr,
    /// Names and types of the visible columns.
    pub desc: RelationDesc,
    pub order_by: Vec<ColumnOrder>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// Per visible column: an untyped literal (`NULL`, `'x'`) resolved to text only for lack of
    /// context, so that a set operation may still give it the other side's type.
    pub unknown: Vec<bool>,
}

impl PlannedQuery {
    /// The query as a relation of its visible columns: ORDER BY only matters together with
    /// LIMIT/OFFSET there, which become a `TopK`.
    pub fn into_relation(self) -> RelationExpr {
        let arity = self.desc.arity();
        let mut expr = self.expr;
        if self.limit.is_some() || self.offset > 0 {
            expr = RelationExpr::TopK {
                input: Box::new(expr),
                group_key: Vec::new(),
                order_by: self.order_by,
                limit: self.limit,
                offset: self.offset,
                with_ties: false,
            };
        }
        if expr.arity() != arity {
            expr = expr.project((0..arity).collect());
        }
        expr
    }

    fn into_finished(self) -> (RelationExpr, RelationDesc, RowSetFinishing) {
        let finishing = RowSetFinishing {
            order_by: self.order_by,
            limit: self.limit,
            offset: self.offset,
            project: (0..self.desc.arity()).collect(),
        };
        (self.expr, self.desc, finishing)
    }
}

impl<'a> QueryContext<'a> {
    pub fn new(catalog: &'a dyn SessionCatalog, params: &'a Params) -> Self {
        QueryContext {
            catalog,
            params,
            param_types: RefCell::new(BTreeMap::new()),
            ctes: RefCell::new(Vec::new()),
            correlation: RefCell::new(None),
        }
    }

    /// The types of `$1..$n` (n the highest used or hinted): hints first, then inferred types,
    /// then `text` (PostgreSQL's reading of an unconstrained parameter).
    pub fn param_types(&self) -> Vec<ScalarType> {
        let inferred = self.param_types.borrow();
        let max_used = inferred.keys().next_back().copied().unwrap_or(0);
        let n = max_used.max(self.params.types.len());
        (1..=n)
            .map(|i| {
                self.params
                    .types
                    .get(i - 1)
                    .copied()
                    .flatten()
                    .or_else(|| inferred.get(&i).copied())
                    .unwrap_or(ScalarType::Text)
            })
            .collect()
    }
}

/// Plans a query. Returns the plan, the names and types of its visible columns, and what to apply
/// after reading it (ORDER BY/LIMIT/OFFSET, and a projection that drops ORDER BY helper columns).
pub fn plan_query(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    params: &Params,
) -> Result<(RelationExpr, RelationDesc, RowSetFinishing), SqlError> {
    let qcx = QueryContext::new(catalog, params);
    Ok(setop::plan_query(&qcx, query, &[])?.into_finished())
}

/// Describes a query for the extended protocol: the types of its parameters (`hints` kept, the
/// rest inferred from context as PostgreSQL does, e.g. `col = $1` gives `$1` the type of `col`)
/// and its visible columns.
pub fn describe_query(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    hints: &[Option<ScalarType>],
) -> Result<(Vec<ScalarType>, RelationDesc), SqlError> {
    let params = Params { types: hints.to_vec(), values: Vec::new(), bind_later: false };
    let qcx = QueryContext::new(catalog, &params);
    let planned = setop::plan_query(&qcx, query, &[])?;
    Ok((qcx.param_types(), planned.desc))
}

/// Plans a scalar expression over the columns of one relation (UPDATE's SET and WHERE), where
/// `relation_name` may qualify column names.
pub fn plan_scalar_over(
    catalog: &dyn SessionCatalog,
    relation_name: &str,
    desc: &RelationDesc,
    expr: &ast::Expr,
    params: &Params,
) -> Result<TypedExpr, SqlError> {
    let qcx = QueryContext::new(catalog, params);
    let scope = Scope::from_desc(Some(relation_name), desc);
    let ecx = ExprContext::new(&qcx, &scope, "UPDATE");
    let planned = expr::plan_expr(&ecx, expr)?;
    Ok(ecx.typed(planned))
}

/// Like [`plan_scalar_over`], but leaves an untyped literal (`'abc'`, `NULL`) untyped, so that the
/// caller can give it the type of the column it is assigned to (UPDATE ... SET c = 'x').
pub fn plan_operand_over(
    catalog: &dyn SessionCatalog,
    relation_name: &str,
    desc: &RelationDesc,
    expr: &ast::Expr,
    params: &Params,
) -> Result<freshet_expr::func::Operand, SqlError> {
    let qcx = QueryContext::new(catalog, params);
    let scope = Scope::from_desc(Some(relation_name), desc);
    let ecx = ExprContext::new(&qcx, &scope, "UPDATE");
    let planned = expr::plan_expr(&ecx, expr)?;
    Ok(ecx.operand(planned, None))
}
