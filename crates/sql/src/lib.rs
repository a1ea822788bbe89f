//! SQL: parsing (on `sqlparser`, extended around it for Freshet's own statements such as
//! `CREATE SOURCE ... FROM KINESIS`) and planning into `Plan`s over the expression IR.
//!
//! This crate owns name resolution, SQL typing rules and the translation of SQL into
//! `RelationExpr`. It must not execute anything, hold state between statements, or know about
//! dataflows, the durable catalog format, or the wire protocol.

pub mod catalog;
pub mod error;
pub mod plan;

pub use catalog::{CatalogItem, ItemKind, SessionCatalog};
pub use error::SqlError;
pub use plan::{Plan, RowSetFinishing, StatementDesc};

/// One parsed statement: standard SQL from `sqlparser`, or one of Freshet's extensions.
#[derive(Clone, Debug)]
pub enum Statement {
    Sql(Box<sqlparser::ast::Statement>),
    CreateSource(plan::CreateSourceStatement),
    /// `SHOW SOURCES | TABLES | VIEWS | MATERIALIZED VIEWS`
    ShowObjects(catalog::ObjectKind),
}

/// Splits and parses a query string into statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, sql).map_err(|e| SqlError::Parse(e.to_string()))?;
    Ok(statements.into_iter().map(|s| Statement::Sql(Box::new(s))).collect())
}

/// The parameters `$1..$n` of a statement: types the client gave (or `None` to infer) and, when
/// executing, their values (empty when only describing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    pub types: Vec<Option<freshet_repr::ScalarType>>,
    pub values: Vec<freshet_repr::Datum>,
}

/// Plans one statement with its parameter values bound.
pub fn plan(catalog: &dyn SessionCatalog, statement: &Statement, params: &Params) -> Result<Plan, SqlError> {
    let _ = (catalog, statement, params);
    Err(SqlError::Unsupported("planning".into()))
}

/// Describes a statement for the extended protocol: its parameter types (client-given ones kept,
/// the rest inferred) and the columns it returns.
pub fn describe(
    catalog: &dyn SessionCatalog,
    statement: &Statement,
    param_hints: &[Option<freshet_repr::ScalarType>],
) -> Result<StatementDesc, SqlError> {
    let _ = (catalog, statement, param_hints);
    Err(SqlError::Unsupported("describe".into()))
}
