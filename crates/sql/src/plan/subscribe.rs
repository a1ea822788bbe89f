//! `SUBSCRIBE`: the query whose changes are streamed, the result's shape (`mz_timestamp`,
//! `mz_diff`, then the query's columns) and the options.
//!
//! This module must not run anything: the coordinator picks the start time and streams.

use freshet_repr::strconv::parse_datum;
use freshet_repr::{ColumnType, Datum, RelationDesc, ScalarType};
use sqlparser::ast;

use crate::plan::ddl::apply_finishing;
use crate::plan::query::{describe_query, plan_query};
use crate::plan::{Plan, StatementDesc};
use crate::{Params, SessionCatalog, SqlError};

/// Plans `SUBSCRIBE` of `query` with its `WITH` options, inside `COPY ... TO STDOUT` when `copy`
/// holds that statement's options.
pub fn plan_subscribe(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    options: &[(String, String)],
    copy: Option<&[(String, String)]>,
    params: &Params,
) -> Result<Plan, SqlError> {
    let SubscribeOptions { snapshot, progress } = subscribe_options(options)?;
    if let Some(copy) = copy {
        check_copy_options(copy)?;
    }
    let (expr, desc, finishing) = plan_query(catalog, query, params)?;
    // ORDER BY without LIMIT says nothing about a stream of changes; LIMIT keeps the top rows.
    let expr = apply_finishing(expr, &finishing);
    Ok(Plan::Subscribe { expr, desc: subscribe_desc(desc, progress), snapshot, progress, copy: copy.is_some() })
}

/// The parameters and result columns of `SUBSCRIBE` of `query` (none inside COPY, whose data is
/// not a result set).
pub fn describe_subscribe(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    options: &[(String, String)],
    copy: bool,
    hints: &[Option<ScalarType>],
) -> Result<StatementDesc, SqlError> {
    let progress = subscribe_options(options).is_ok_and(|o| o.progress);
    let (params, desc) = describe_query(catalog, query, hints)?;
    Ok(StatementDesc { params, result: (!copy).then(|| subscribe_desc(desc, progress)) })
}

/// COPY's options: only the text format is written.
fn check_copy_options(options: &[(String, String)]) -> Result<(), SqlError> {
    for (key, value) in options {
        match (key.as_str(), value.to_lowercase().as_str()) {
            ("format", "text") => {}
            ("format", other) => return Err(SqlError::Unsupported(format!("COPY (SUBSCRIBE ...) in format {other}"))),
            (other, _) => return Err(SqlError::Unsupported(format!("COPY option \"{}\"", other.to_uppercase()))),
        }
    }
    Ok(())
}

/// `mz_timestamp` (the update's time, milliseconds since the Unix epoch), with `progress`
/// `mz_progressed` (true on rows that only say every later row has a later time), and `mz_diff`
/// (copies of the row added, negative when removed) before the query's own columns, which
/// progress rows leave NULL.
fn subscribe_desc(query: RelationDesc, progress: bool) -> RelationDesc {
    let mut columns = vec![("mz_timestamp".to_string(), ColumnType::new(ScalarType::Numeric, false))];
    if progress {
        columns.push(("mz_progressed".to_string(), ColumnType::new(ScalarType::Bool, false)));
    }
    columns.push(("mz_diff".to_string(), ColumnType::new(ScalarType::Int64, progress)));
    columns.extend(
        query
            .iter()
            .map(|(name, column)| (name.to_string(), ColumnType::new(column.scalar_type, column.nullable || progress))),
    );
    RelationDesc::new(columns)
}

/// The `WITH` options of SUBSCRIBE.
struct SubscribeOptions {
    /// The rows as of the start come first (default true).
    snapshot: bool,
    /// Progress rows report how far the stream is complete (default false).
    progress: bool,
}

fn subscribe_options(options: &[(String, String)]) -> Result<SubscribeOptions, SqlError> {
    let mut parsed = SubscribeOptions { snapshot: true, progress: false };
    for (key, value) in options {
        let slot = match key.as_str() {
            "snapshot" => &mut parsed.snapshot,
            "progress" => &mut parsed.progress,
            other => return Err(SqlError::Unsupported(format!("SUBSCRIBE option \"{}\"", other.to_uppercase()))),
        };
        // PostgreSQL's boolean spellings, as a `::bool` cast accepts them.
        *slot = match parse_datum(value, ScalarType::Bool) {
            Ok(Datum::Bool(b)) => b,
            _ => {
                return Err(SqlError::InvalidParameter(format!(
                    "invalid value for SUBSCRIBE option {}: \"{value}\" (expected true or false)",
                    key.to_uppercase()
                )))
            }
        };
    }
    Ok(parsed)
}
