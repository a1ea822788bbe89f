//! The entry points `plan` and `describe`: dispatch of each statement kind to its planner.
//!
//! Queries and scalar expressions are planned by `plan::query`; this module must not plan them
//! itself. Statements Freshet does not support fail with 0A000 naming the statement kind.

use std::ops::ControlFlow;

use freshet_repr::ScalarType;
use sqlparser::ast::{self, Visit, Visitor};

use crate::plan::query::{describe_query, plan_query};
use crate::plan::subscribe::{describe_subscribe, plan_subscribe};
use crate::plan::{ddl, dml, show, source, Plan, StatementDesc};
use crate::{Params, SessionCatalog, SqlError, Statement};

/// Plans one statement with its parameter values bound.
pub fn plan(catalog: &dyn SessionCatalog, statement: &Statement, params: &Params) -> Result<Plan, SqlError> {
    match statement {
        Statement::Sql(stmt) => plan_sql(catalog, stmt, params),
        Statement::CreateSource(stmt) => source::plan_create_source(catalog, stmt),
        Statement::ShowObjects(kind) => Ok(Plan::ShowObjects { kind: *kind }),
        Statement::ShowCreate { kind, name } => show::plan_show_create(catalog, *kind, name),
        Statement::Drop { kind, names, if_exists, cascade } => {
            ddl::plan_drop(catalog, *kind, names, *if_exists, *cascade)
        }
        Statement::Subscribe { query, options, copy } => {
            plan_subscribe(catalog, query, options, copy.as_deref(), params)
        }
    }
}

fn plan_sql(catalog: &dyn SessionCatalog, stmt: &ast::Statement, params: &Params) -> Result<Plan, SqlError> {
    use ast::Statement as S;
    match stmt {
        S::Query(query) => {
            let (expr, desc, finishing) = plan_query(catalog, query, params)?;
            Ok(Plan::Select { expr, desc, finishing })
        }
        // The kept SQL is sqlparser's rendering, which parses back to the same statement.
        S::CreateTable(table) => ddl::plan_create_table(catalog, table, stmt.to_string()),
        S::CreateView(view) => ddl::plan_create_view(catalog, view, stmt.to_string(), params),
        S::Insert(insert) => dml::plan_insert(catalog, insert, params),
        S::Update(update) => dml::plan_update(catalog, update, params),
        S::Delete(delete) => dml::plan_delete(catalog, delete, params),
        S::Drop { object_type, if_exists, names, cascade, .. } => {
            ddl::plan_drop_sql(catalog, object_type, names, *if_exists, *cascade)
        }
        S::ShowColumns { extended: false, full: false, show_options } => show::plan_show_columns(catalog, show_options),
        S::ShowVariable { variable } => Ok(Plan::ShowVariable { name: show::variable_name(variable) }),
        S::ShowCreate { obj_type, obj_name } => {
            let kind = match obj_type {
                ast::ShowCreateObject::Table => crate::catalog::ObjectKind::Table,
                ast::ShowCreateObject::View => crate::catalog::ObjectKind::View,
                other => return Err(SqlError::Unsupported(format!("SHOW CREATE {other}"))),
            };
            show::plan_show_create(catalog, kind, &crate::names::object_name(obj_name)?)
        }
        S::Set(set) => show::plan_set(set),
        S::Reset(reset) => show::plan_reset(reset),
        S::StartTransaction { .. } => Ok(Plan::StartTransaction),
        S::Commit { .. } => Ok(Plan::Commit),
        S::Rollback { savepoint: None, .. } => Ok(Plan::Rollback),
        S::Explain { statement, analyze: false, .. } => match statement.as_ref() {
            S::Query(query) => {
                let (expr, _, finishing) = plan_query(catalog, query, params)?;
                Ok(Plan::Explain { expr: ddl::apply_finishing(expr, &finishing) })
            }
            other => Err(SqlError::Unsupported(format!("EXPLAIN {}", statement_kind(other)))),
        },
        S::Discard { .. } => Ok(Plan::Empty),
        other => Err(SqlError::Unsupported(statement_kind(other))),
    }
}

/// A statement's kind in SQL words (`CREATE INDEX`), from its variant name.
fn statement_kind(stmt: &ast::Statement) -> String {
    let debug = format!("{stmt:?}");
    let variant = debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default();
    let mut words = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_uppercase());
    }
    words
}

/// Describes a statement: parameter types (hints kept, the rest inferred from context, else text)
/// and result columns.
pub fn describe(
    catalog: &dyn SessionCatalog,
    statement: &Statement,
    hints: &[Option<ScalarType>],
) -> Result<StatementDesc, SqlError> {
    if let Statement::Subscribe { query, options, copy } = statement {
        return describe_subscribe(catalog, query, options, copy.is_some(), hints);
    }
    let Statement::Sql(stmt) = statement else {
        return Ok(describe_extension(statement));
    };
    match stmt.as_ref() {
        ast::Statement::Query(query) => {
            let (params, desc) = describe_query(catalog, query, hints)?;
            Ok(StatementDesc { params, result: Some(desc) })
        }
        ast::Statement::Explain { statement: inner, .. } => {
            let params = match inner.as_ref() {
                ast::Statement::Query(query) => describe_query(catalog, query, hints)?.0,
                _ => fill_params(hints, max_placeholder(stmt)),
            };
            Ok(StatementDesc { params, result: Some(show::explain_desc()) })
        }
        ast::Statement::Insert(_) | ast::Statement::Update(_) | ast::Statement::Delete(_) => {
            Ok(StatementDesc { params: describe_write_params(catalog, stmt, hints), result: None })
        }
        ast::Statement::ShowColumns { .. }
        | ast::Statement::ShowVariable { .. }
        | ast::Statement::ShowCreate { .. } => {
            let plan = plan_sql(catalog, stmt, &Params::default())?;
            Ok(StatementDesc { params: fill_params(hints, 0), result: show::result_desc(&plan) })
        }
        // DDL and session statements return no rows; their errors surface when executed.
        _ => Ok(StatementDesc { params: fill_params(hints, max_placeholder(stmt)), result: None }),
    }
}

/// Describes Freshet's own statements without planning them (none takes parameters).
fn describe_extension(statement: &Statement) -> StatementDesc {
    let result = match statement {
        Statement::ShowObjects(kind) => show::result_desc(&Plan::ShowObjects { kind: *kind }),
        Statement::ShowCreate { kind, name } => {
            show::result_desc(&Plan::ShowCreate { kind: *kind, name: name.clone() })
        }
        Statement::Sql(_) | Statement::CreateSource(_) | Statement::Drop { .. } | Statement::Subscribe { .. } => None,
    };
    StatementDesc { params: Vec::new(), result }
}

/// Parameter types of INSERT/UPDATE/DELETE: hints, then the types of the columns bare
/// placeholders are assigned to, then what planning the rest as a query infers.
fn describe_write_params(
    catalog: &dyn SessionCatalog,
    stmt: &ast::Statement,
    hints: &[Option<ScalarType>],
) -> Vec<ScalarType> {
    let mut types: Vec<Option<ScalarType>> = hints.to_vec();
    for (n, typ) in dml::assigned_param_types(catalog, stmt) {
        if n == 0 {
            continue;
        }
        if types.len() < n {
            types.resize(n, None);
        }
        if types[n - 1].is_none() {
            types[n - 1] = Some(typ);
        }
    }
    let max = max_placeholder(stmt);
    if let Some(query) = write_as_query(stmt) {
        if let Ok((params, _)) = describe_query(catalog, &query, &types) {
            if params.len() >= max {
                return params;
            }
        }
    }
    fill_params(&types, max)
}

/// A query with the same expressions, placeholders and scope as a write, for inferring the types
/// of its parameters: `SELECT <values or assignments> FROM t WHERE <selection>`, or INSERT's query.
fn write_as_query(stmt: &ast::Statement) -> Option<ast::Query> {
    let sql = match stmt {
        ast::Statement::Insert(insert) => return insert.source.as_deref().cloned(),
        ast::Statement::Update(update) => {
            let values: Vec<String> = update.assignments.iter().map(|a| a.value.to_string()).collect();
            let values = if values.is_empty() { "1".to_string() } else { values.join(", ") };
            let selection = update.selection.as_ref().map(|s| format!(" WHERE {s}")).unwrap_or_default();
            format!("SELECT {values} FROM {}{selection}", update.table)
        }
        ast::Statement::Delete(delete) => {
            let from = match &delete.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            let tables: Vec<String> = from.iter().map(ToString::to_string).collect();
            let selection = delete.selection.as_ref().map(|s| format!(" WHERE {s}")).unwrap_or_default();
            format!("SELECT 1 FROM {}{selection}", tables.join(", "))
        }
        _ => return None,
    };
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    match sqlparser::parser::Parser::parse_sql(&dialect, &sql).ok()?.pop()? {
        ast::Statement::Query(query) => Some(*query),
        _ => None,
    }
}

/// `n` parameter types (at least as many as hinted): hints where given, else text.
fn fill_params(hints: &[Option<ScalarType>], n: usize) -> Vec<ScalarType> {
    (0..n.max(hints.len())).map(|i| hints.get(i).copied().flatten().unwrap_or(ScalarType::Text)).collect()
}

/// The highest `$n` in a statement (0 when there is none).
fn max_placeholder(stmt: &ast::Statement) -> usize {
    struct MaxPlaceholder(usize);
    impl Visitor for MaxPlaceholder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &ast::Expr) -> ControlFlow<()> {
            if let ast::Expr::Value(v) = expr {
                if let ast::Value::Placeholder(p) = &v.value {
                    if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                        self.0 = self.0.max(n);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut visitor = MaxPlaceholder(0);
    let _ = stmt.visit(&mut visitor);
    visitor.0
}
