//! Planning of DDL: `CREATE TABLE`, `CREATE [MATERIALIZED] VIEW` and `DROP`.
//!
//! Names are checked against the catalog here (existence, kind, dependents) so the coordinator
//! receives resolved, consistent plans; it must still re-check under its own lock.

use std::collections::BTreeSet;

use freshet_expr::func::{plan_cast, CastContext, Operand};
use freshet_expr::RelationExpr;
use freshet_repr::{ColumnType, RelationDesc, ScalarType};
use sqlparser::ast;

use crate::catalog::{CatalogItem, ObjectKind};
use crate::plan::query::{plan_operand_over, plan_query};
use crate::plan::{Plan, RowSetFinishing};
use crate::{names, Params, SessionCatalog, SqlError};

/// Fails with 42P07 when `name` is taken and the statement has no `IF NOT EXISTS`.
pub(crate) fn check_name_free(catalog: &dyn SessionCatalog, name: &str, if_not_exists: bool) -> Result<(), SqlError> {
    match catalog.resolve(name) {
        Some(_) if !if_not_exists => Err(SqlError::AlreadyExists { kind: "relation".into(), name: name.into() }),
        _ => Ok(()),
    }
}

/// The scalar type a SQL type name denotes, ignoring modifiers (`varchar(20)`, `numeric(10,2)`).
pub(crate) fn scalar_type(data_type: &ast::DataType) -> Result<ScalarType, SqlError> {
    let written = data_type.to_string().to_lowercase();
    let mut name = String::new();
    let mut depth = 0usize;
    for c in written.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '"' => {}
            c if depth == 0 => name.push(c),
            _ => {}
        }
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.ends_with("[]") || name.starts_with("array") {
        return Err(SqlError::Unsupported(format!("array type {written}")));
    }
    ScalarType::from_sql_name(&name).ok_or(SqlError::UnknownType(name))
}

pub(crate) fn plan_create_table(
    catalog: &dyn SessionCatalog,
    table: &ast::CreateTable,
    create_sql: String,
) -> Result<Plan, SqlError> {
    let unsupported = [
        (table.query.is_some(), "CREATE TABLE ... AS"),
        (table.like.is_some() || table.clone.is_some(), "CREATE TABLE ... LIKE"),
        (table.temporary, "CREATE TEMPORARY TABLE"),
        (table.or_replace, "CREATE OR REPLACE TABLE"),
        (table.external, "CREATE EXTERNAL TABLE"),
        (table.inherits.is_some() || table.partition_of.is_some(), "table inheritance and partitioning"),
        (!table.constraints.is_empty(), "table constraints (PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK)"),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(present, _)| *present) {
        return Err(SqlError::Unsupported((*what).to_string()));
    }
    let name = names::object_name(&table.name)?;
    check_name_free(catalog, &name, table.if_not_exists)?;
    let mut columns: Vec<(String, ColumnType)> = Vec::new();
    for def in &table.columns {
        let column = names::ident(&def.name);
        if columns.iter().any(|(c, _)| *c == column) {
            return Err(SqlError::DuplicateColumn(column));
        }
        let scalar_type = scalar_type(&def.data_type)?;
        let mut nullable = true;
        for option in &def.options {
            match &option.option {
                ast::ColumnOption::Null => nullable = true,
                ast::ColumnOption::NotNull => nullable = false,
                ast::ColumnOption::Default(expr) => {
                    plan_default(catalog, expr, scalar_type, &column)?;
                }
                ast::ColumnOption::Comment(_) => {}
                other => return Err(SqlError::Unsupported(format!("column option {other}"))),
            }
        }
        columns.push((column, ColumnType::new(scalar_type, nullable)));
    }
    Ok(Plan::CreateTable { name, desc: RelationDesc::new(columns), if_not_exists: table.if_not_exists, create_sql })
}

/// Plans a column's DEFAULT expression, typed to the column (validated at CREATE TABLE, evaluated
/// by INSERT and UPDATE through the table's `create_sql`).
pub(crate) fn plan_default(
    catalog: &dyn SessionCatalog,
    expr: &ast::Expr,
    scalar_type: ScalarType,
    column: &str,
) -> Result<freshet_expr::TypedExpr, SqlError> {
    let operand = plan_operand_over(catalog, "", &RelationDesc::default(), expr, &Params::default())?;
    assignment_cast(operand, scalar_type, column)
}

/// Casts a value to a column's type as an assignment does, with PostgreSQL's message on failure.
pub(crate) fn assignment_cast(
    operand: Operand,
    to: ScalarType,
    column: &str,
) -> Result<freshet_expr::TypedExpr, SqlError> {
    let from = match &operand {
        Operand::Typed(t) => Some(t.typ.scalar_type),
        Operand::Unknown(_) => None,
    };
    plan_cast(operand, to, CastContext::Assignment).map_err(|e| match (e, from) {
        (freshet_expr::TypeError::CannotCast { .. }, Some(from)) => {
            SqlError::Type(freshet_expr::TypeError::DatatypeMismatch(format!(
                "column \"{column}\" is of type {to} but expression is of type {from}"
            )))
        }
        (e, _) => SqlError::Type(e),
    })
}

/// Applies a query's ORDER BY/LIMIT/OFFSET and projection inside the plan, as a view must: ORDER
/// BY alone means nothing for a view and is dropped.
pub(crate) fn apply_finishing(expr: RelationExpr, finishing: &RowSetFinishing) -> RelationExpr {
    let expr = if finishing.limit.is_some() || finishing.offset > 0 {
        RelationExpr::TopK {
            input: Box::new(expr),
            group_key: Vec::new(),
            order_by: finishing.order_by.clone(),
            limit: finishing.limit,
            offset: finishing.offset,
            with_ties: false,
        }
    } else {
        expr
    };
    if finishing.project.iter().copied().eq(0..expr.arity()) {
        expr
    } else {
        expr.project(finishing.project.clone())
    }
}

pub(crate) fn plan_create_view(
    catalog: &dyn SessionCatalog,
    view: &ast::CreateView,
    create_sql: String,
    params: &Params,
) -> Result<Plan, SqlError> {
    if view.or_alter || view.temporary || view.to.is_some() || view.params.is_some() {
        return Err(SqlError::Unsupported("this form of CREATE VIEW".into()));
    }
    let name = names::object_name(&view.name)?;
    let kind = if view.materialized { ObjectKind::MaterializedView } else { ObjectKind::View };
    match catalog.resolve(&name) {
        Some(existing) if view.or_replace && existing.object_kind != kind => {
            return Err(SqlError::WrongObjectType(format!("\"{name}\" is not a {}", kind.name())));
        }
        Some(_) if !view.or_replace && !view.if_not_exists => {
            return Err(SqlError::AlreadyExists { kind: "relation".into(), name });
        }
        _ => {}
    }
    let (expr, mut desc, finishing) = plan_query(catalog, &view.query, params)?;
    let expr = apply_finishing(expr, &finishing);
    if view.columns.len() > desc.arity() {
        return Err(SqlError::Parse("CREATE VIEW specifies more column names than columns".into()));
    }
    for (i, column) in view.columns.iter().enumerate() {
        desc.names[i] = names::ident(&column.name);
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = desc.names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(SqlError::DuplicateColumn(dup.clone()));
    }
    Ok(Plan::CreateView {
        name,
        if_not_exists: view.if_not_exists,
        or_replace: view.or_replace,
        materialized: view.materialized,
        expr,
        desc,
        create_sql,
    })
}

/// `DROP TABLE | VIEW | MATERIALIZED VIEW` as parsed by sqlparser.
pub(crate) fn plan_drop_sql(
    catalog: &dyn SessionCatalog,
    object_type: &ast::ObjectType,
    names: &[ast::ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<Plan, SqlError> {
    let kind = match object_type {
        ast::ObjectType::Table => ObjectKind::Table,
        ast::ObjectType::View => ObjectKind::View,
        ast::ObjectType::MaterializedView => ObjectKind::MaterializedView,
        other => return Err(SqlError::Unsupported(format!("DROP {other}"))),
    };
    let names = names.iter().map(names::object_name).collect::<Result<Vec<_>, _>>()?;
    plan_drop(catalog, kind, &names, if_exists, cascade)
}

/// Resolves the objects to drop (skipping missing ones under IF EXISTS) and, without CASCADE,
/// refuses when anything not itself being dropped depends on them.
pub(crate) fn plan_drop(
    catalog: &dyn SessionCatalog,
    kind: ObjectKind,
    names: &[String],
    if_exists: bool,
    cascade: bool,
) -> Result<Plan, SqlError> {
    let mut items: Vec<CatalogItem> = Vec::new();
    for name in names {
        match catalog.resolve(name) {
            None if if_exists => {}
            None => return Err(SqlError::UnknownObject { kind: kind.name().into(), name: name.clone() }),
            Some(item) if item.object_kind != kind => {
                return Err(SqlError::WrongObjectType(format!("\"{name}\" is not a {}", kind.name())));
            }
            Some(item) if items.iter().any(|i| i.id == item.id) => {}
            Some(item) => items.push(item),
        }
    }
    if !cascade {
        for item in &items {
            let blocking = catalog.dependents(item.id).into_iter().find(|d| {
                // A source's progress collection goes with the source.
                let own_progress = item.object_kind == ObjectKind::Source && d.object_kind == ObjectKind::Progress;
                !own_progress && !items.iter().any(|i| i.id == d.id)
            });
            if blocking.is_some() {
                // PostgreSQL's wording; it names the dependents only in a DETAIL line.
                return Err(SqlError::DependentObjects(format!(
                    "cannot drop {} {} because other objects depend on it",
                    kind.name(),
                    item.name
                )));
            }
        }
    }
    Ok(Plan::Drop { kind, names: items.into_iter().map(|i| i.name).collect(), if_exists, cascade })
}
