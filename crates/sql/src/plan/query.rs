//! Planning of queries (SELECT, VALUES, set operations, subqueries, CTEs) and of scalar
//! expressions into the expression IR.

use freshet_expr::{RelationExpr, TypedExpr};
use freshet_repr::RelationDesc;
use sqlparser::ast;

use crate::plan::RowSetFinishing;
use crate::{Params, SessionCatalog, SqlError};

/// Plans a query. Returns the plan, the names and types of its visible columns, and what to apply
/// after reading it (ORDER BY/LIMIT/OFFSET, and a projection that drops ORDER BY helper columns).
pub fn plan_query(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    params: &Params,
) -> Result<(RelationExpr, RelationDesc, RowSetFinishing), SqlError> {
    let _ = (catalog, query, params);
    Err(SqlError::Unsupported("queries".into()))
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
    let _ = (catalog, relation_name, desc, expr, params);
    Err(SqlError::Unsupported("expressions".into()))
}
