//! Planning of `SHOW`, `SET` and `RESET`, and the result columns of every plan that returns rows
//! (so `describe` and the coordinator agree on them).

use freshet_repr::{ColumnType, RelationDesc, ScalarType};
use sqlparser::ast;

use crate::catalog::ObjectKind;
use crate::plan::Plan;
use crate::{names, SessionCatalog, SqlError};

fn text_columns(names: &[&str]) -> RelationDesc {
    RelationDesc::new(names.iter().map(|n| (n.to_string(), ColumnType::new(ScalarType::Text, false))).collect())
}

/// The columns a plan returns, or `None` if it returns no rows:
/// - `SHOW SOURCES`: `name`, `type` (`kinesis` or `progress`); other `SHOW <objects>`: `name`;
/// - `SHOW COLUMNS`: `name`, `nullable` (`YES`/`NO`), `type`;
/// - `SHOW CREATE`: `name`, `create_sql`;
/// - `SHOW var`: one column named `var`; `SHOW ALL`: `name`, `setting`, `description`;
/// - `EXPLAIN`: `QUERY PLAN`.
pub fn result_desc(plan: &Plan) -> Option<RelationDesc> {
    Some(match plan {
        Plan::Select { desc, .. } => desc.clone(),
        Plan::ShowObjects { kind: ObjectKind::Source } => text_columns(&["name", "type"]),
        Plan::ShowObjects { .. } => text_columns(&["name"]),
        Plan::ShowColumns { .. } => text_columns(&["name", "nullable", "type"]),
        Plan::ShowCreate { .. } => text_columns(&["name", "create_sql"]),
        Plan::ShowVariable { name } if name == "all" => text_columns(&["name", "setting", "description"]),
        Plan::ShowVariable { name } => text_columns(&[name.as_str()]),
        Plan::Explain { .. } => explain_desc(),
        _ => return None,
    })
}

/// The columns of `EXPLAIN`.
pub(crate) fn explain_desc() -> RelationDesc {
    text_columns(&["QUERY PLAN"])
}

/// `SHOW CREATE <kind> name`: the object must exist and be of that kind.
pub(crate) fn plan_show_create(catalog: &dyn SessionCatalog, kind: ObjectKind, name: &str) -> Result<Plan, SqlError> {
    match catalog.resolve(name) {
        None => Err(SqlError::UnknownObject { kind: kind.name().into(), name: name.into() }),
        Some(item) if item.object_kind != kind => {
            Err(SqlError::WrongObjectType(format!("\"{name}\" is not a {}", kind.name())))
        }
        Some(_) => Ok(Plan::ShowCreate { kind, name: name.into() }),
    }
}

pub(crate) fn plan_show_columns(
    catalog: &dyn SessionCatalog,
    options: &ast::ShowStatementOptions,
) -> Result<Plan, SqlError> {
    let filtered = options.starts_with.is_some() || options.limit.is_some() || options.filter_position.is_some();
    let parent = options.show_in.as_ref().and_then(|i| i.parent_name.as_ref());
    let (Some(parent), false) = (parent, filtered) else {
        return Err(SqlError::Unsupported("this form of SHOW COLUMNS".into()));
    };
    let name = names::object_name(parent)?;
    let item = catalog.resolve(&name).ok_or(SqlError::UnknownRelation(name))?;
    Ok(Plan::ShowColumns { id: item.id })
}

/// The server's name for a variable written as words (`TIME ZONE`, `transaction isolation level`).
pub(crate) fn variable_name(words: &[ast::Ident]) -> String {
    let joined = words.iter().map(|w| w.value.to_lowercase()).collect::<Vec<_>>().join(" ");
    match joined.as_str() {
        "time zone" => "timezone".into(),
        "transaction isolation level" => "transaction_isolation".into(),
        "session authorization" => "session_authorization".into(),
        _ => joined.replace(' ', "_"),
    }
}

/// A SET value as text: strings unquoted, numbers and words as written. `None` for `DEFAULT`.
fn set_value(values: &[ast::Expr]) -> Result<Option<String>, SqlError> {
    let mut parts = Vec::with_capacity(values.len());
    for value in values {
        let part = match value {
            ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default") => {
                return Ok(None);
            }
            ast::Expr::Identifier(id) => id.value.clone(),
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => s.clone(),
                ast::Value::Number(n, _) => n.to_string(),
                ast::Value::Boolean(b) => b.to_string(),
                other => other.to_string(),
            },
            ast::Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => format!("-{expr}"),
            other => return Err(SqlError::Unsupported(format!("SET to the value {other}"))),
        };
        parts.push(part);
    }
    Ok(Some(parts.join(", ")))
}

pub(crate) fn plan_set(set: &ast::Set) -> Result<Plan, SqlError> {
    match set {
        ast::Set::SingleAssignment { variable, values, hivevar: false, .. } => {
            let words: Vec<ast::Ident> = variable.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
            Ok(Plan::SetVariable { name: variable_name(&words), value: set_value(values)? })
        }
        ast::Set::SetTimeZone { value, .. } => {
            Ok(Plan::SetVariable { name: "timezone".into(), value: set_value(std::slice::from_ref(value))? })
        }
        ast::Set::SetNames { charset_name, .. } => {
            Ok(Plan::SetVariable { name: "client_encoding".into(), value: Some(charset_name.value.clone()) })
        }
        ast::Set::SetTransaction { modes, snapshot: None, session } => plan_set_transaction(modes, *session),
        other => Err(SqlError::Unsupported(format!("SET statement {other}"))),
    }
}

/// `SET [SESSION CHARACTERISTICS AS] TRANSACTION ...`, which drivers send; every statement runs
/// alone, so only the variables change.
fn plan_set_transaction(modes: &[ast::TransactionMode], session: bool) -> Result<Plan, SqlError> {
    let prefix = if session { "default_" } else { "" };
    match modes {
        [ast::TransactionMode::IsolationLevel(level)] => Ok(Plan::SetVariable {
            name: format!("{prefix}transaction_isolation"),
            value: Some(level.to_string().to_lowercase()),
        }),
        [ast::TransactionMode::AccessMode(mode)] => {
            let read_only = matches!(mode, ast::TransactionAccessMode::ReadOnly);
            Ok(Plan::SetVariable {
                name: format!("{prefix}transaction_read_only"),
                value: Some(if read_only { "on" } else { "off" }.into()),
            })
        }
        _ => Err(SqlError::Unsupported("SET TRANSACTION with several modes".into())),
    }
}

pub(crate) fn plan_reset(reset: &ast::ResetStatement) -> Result<Plan, SqlError> {
    match &reset.reset {
        ast::Reset::ALL => Ok(Plan::SetVariable { name: "all".into(), value: None }),
        ast::Reset::ConfigurationParameter(name) => {
            let words: Vec<ast::Ident> = name.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
            Ok(Plan::SetVariable { name: variable_name(&words), value: None })
        }
        ast::Reset::SessionAuthorization => Err(SqlError::Unsupported("RESET SESSION AUTHORIZATION".into())),
    }
}
