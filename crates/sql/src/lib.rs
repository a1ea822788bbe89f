//! SQL: parsing (on `sqlparser`, extended around it for Freshet's own statements such as
//! `CREATE SOURCE ... FROM KINESIS`) and planning into `Plan`s over the expression IR.
//!
//! This crate owns name resolution, SQL typing rules and the translation of SQL into
//! `RelationExpr`. It must not execute anything, hold state between statements, or know about
//! dataflows, the durable catalog format, or the wire protocol.

pub mod catalog;
pub mod error;
pub mod names;
pub mod parse;
pub mod plan;

pub use catalog::{CatalogItem, ItemKind, SessionCatalog};
pub use error::SqlError;
pub use parse::{parse, redact_create_source_sql};
pub use plan::{Plan, RowSetFinishing, StatementDesc};

/// One parsed statement: standard SQL from `sqlparser`, or one of Freshet's extensions.
#[derive(Clone, Debug)]
pub enum Statement {
    Sql(Box<sqlparser::ast::Statement>),
    CreateSource(plan::CreateSourceStatement),
    /// `SHOW SOURCES | TABLES | VIEWS | MATERIALIZED VIEWS`
    ShowObjects(catalog::ObjectKind),
    /// `SHOW CREATE TABLE | VIEW | MATERIALIZED VIEW | SOURCE name`
    ShowCreate {
        kind: catalog::ObjectKind,
        name: String,
    },
    /// `DROP SOURCE [IF EXISTS] name, ... [CASCADE | RESTRICT]` (other kinds arrive as `Sql`).
    Drop {
        kind: catalog::ObjectKind,
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    /// `SUBSCRIBE [TO] name | (query) [WITH (...)]`, the name already turned into a query; inside
    /// `COPY (...) TO STDOUT [WITH (...)]` when `copy` holds the COPY options.
    Subscribe {
        query: Box<sqlparser::ast::Query>,
        options: Vec<(String, String)>,
        copy: Option<Vec<(String, String)>>,
    },
}

impl Statement {
    /// Whether this is a query (`SELECT`, `VALUES`, set operations, `WITH`).
    pub fn is_query(&self) -> bool {
        matches!(self, Statement::Sql(s) if matches!(**s, sqlparser::ast::Statement::Query(_)))
    }

    /// The statement as SQL, safe to log: secrets in `CREATE SOURCE` options are redacted.
    pub fn to_redacted_sql(&self) -> String {
        match self {
            Statement::Sql(stmt) => stmt.to_string(),
            Statement::CreateSource(stmt) => redact_create_source_sql(&stmt.sql),
            Statement::ShowObjects(kind) => format!("SHOW {}S", kind.name().to_uppercase()),
            Statement::ShowCreate { kind, name } => {
                format!("SHOW CREATE {} {}", kind.name().to_uppercase(), sqlparser::ast::Ident::with_quote('"', name))
            }
            Statement::Drop { kind, names, if_exists, cascade } => {
                let names: Vec<String> =
                    names.iter().map(|n| sqlparser::ast::Ident::with_quote('"', n).to_string()).collect();
                format!(
                    "DROP {}{} {}{}",
                    kind.name().to_uppercase(),
                    if *if_exists { " IF EXISTS" } else { "" },
                    names.join(", "),
                    if *cascade { " CASCADE" } else { "" }
                )
            }
            Statement::Subscribe { query, options, copy } => {
                let subscribe = format!("SUBSCRIBE ({query}){}", with_options(options));
                match copy {
                    Some(copy_options) => format!("COPY ({subscribe}) TO STDOUT{}", with_options(copy_options)),
                    None => subscribe,
                }
            }
        }
    }
}

/// ` WITH (k = v, ...)`, or nothing without options.
fn with_options(options: &[(String, String)]) -> String {
    let options: Vec<String> = options.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    if options.is_empty() {
        String::new()
    } else {
        format!(" WITH ({})", options.join(", "))
    }
}

/// The parameters `$1..$n` of a statement: types the client gave (or `None` to infer) and, when
/// executing, their values (empty when only describing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    pub types: Vec<Option<freshet_repr::ScalarType>>,
    pub values: Vec<freshet_repr::Datum>,
    /// Plan each typed parameter as `ScalarExpr::Param`, to be bound to values later, instead of
    /// as its value: a plan to keep and reuse. Planning that needs a parameter's value (`LIMIT $1`)
    /// then fails.
    pub bind_later: bool,
}

/// Plans one statement with its parameter values bound.
pub fn plan(catalog: &dyn SessionCatalog, statement: &Statement, params: &Params) -> Result<Plan, SqlError> {
    plan::statement::plan(catalog, statement, params)
}

/// Describes a statement for the extended protocol: its parameter types (client-given ones kept,
/// the rest inferred) and the columns it returns.
pub fn describe(
    catalog: &dyn SessionCatalog,
    statement: &Statement,
    param_hints: &[Option<freshet_repr::ScalarType>],
) -> Result<StatementDesc, SqlError> {
    plan::statement::describe(catalog, statement, param_hints)
}
