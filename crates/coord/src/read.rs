//! Reads: SELECT (a local fast path, a peek of an existing collection, or a short-lived dataflow),
//! EXPLAIN and the SHOW commands.

use freshet_expr::RelationExpr;
use freshet_repr::{Diff, GlobalId, RelationDesc, Row, Timestamp};
use freshet_sql::catalog::ObjectKind;
use freshet_sql::RowSetFinishing;

use crate::catalog::EntryDetail;
use crate::{CoordClient, CoordError, ExecuteResponse};

/// Runs a query at a timestamp that sees every acknowledged write.
pub async fn select(
    client: &CoordClient,
    expr: RelationExpr,
    desc: RelationDesc,
    finishing: &RowSetFinishing,
) -> Result<ExecuteResponse, CoordError> {
    let ts = timestamp_for(client, &expr)?;
    let rows = read_rows(client, &expr, ts).await?;
    let rows = crate::finishing::finish(rows, finishing)?;
    Ok(ExecuteResponse::Rows { desc, rows })
}

/// The time to read `expr` at: the freshest already complete one when it sees every acknowledged
/// write, else `read_timestamp`'s.
pub(crate) fn timestamp_for(client: &CoordClient, expr: &RelationExpr) -> Result<Timestamp, CoordError> {
    match complete_read_timestamp(client, expr)? {
        Some(ts) => Ok(ts),
        None => read_timestamp(client),
    }
}

/// Picks the read time and makes sure tables will not hold it back.
pub fn read_timestamp(client: &CoordClient) -> Result<Timestamp, CoordError> {
    let ts = client.oracle()?.read_ts();
    client.advance_tables(ts + 1)?;
    Ok(ts)
}

/// The freshest time at which every input of `expr` is already complete, when that time sees every
/// acknowledged write: such a read is answered without waiting for frontiers to move (the serving
/// path). `None` sends the read to `read_timestamp`.
fn complete_read_timestamp(client: &CoordClient, expr: &RelationExpr) -> Result<Option<Timestamp>, CoordError> {
    let ids = expr.depends_on();
    if ids.is_empty() {
        return Ok(None);
    }
    let cluster = client.cluster()?;
    let (mut upper, mut since) = (Timestamp::MAX, 0);
    for id in ids {
        match (cluster.upper(id), cluster.since(id)) {
            (Some(u), Some(s)) => (upper, since) = (upper.min(u), since.max(s)),
            _ => return Ok(None),
        }
    }
    Ok(client.oracle()?.complete_read_ts(upper, since))
}

/// The rows of `expr` as of `ts`.
pub async fn read_rows(
    client: &CoordClient,
    expr: &RelationExpr,
    ts: Timestamp,
) -> Result<Vec<(Row, Diff)>, CoordError> {
    let substituted = crate::introspection::substitute(client, expr).await?;
    let expr = substituted.as_ref().unwrap_or(expr);
    if let Some(rows) = crate::constant::try_eval(expr) {
        return Ok(rows.map_err(freshet_repr::DataflowError::from)?);
    }
    let cluster = client.cluster()?;
    // Maps, filters and projections over one stored collection need no dataflow: the workers
    // evaluate them on the collection's arrangement.
    if let Some((id, mfp)) = freshet_expr::MapFilterProject::extract(expr) {
        return Ok(cluster.peek_with(id, ts, mfp).await?);
    }
    let optimized = freshet_expr::optimize(expr.clone());
    let expr = &optimized;
    // Point lookups inside a larger plan are read first, so the rest runs over a few rows.
    let narrowed = crate::pushdown::seek_point_lookups(&cluster, expr, ts).await?;
    let expr = narrowed.as_ref().unwrap_or(expr);
    if let Some(rows) = crate::constant::try_eval(expr) {
        return Ok(rows.map_err(freshet_repr::DataflowError::from)?);
    }
    Ok(cluster.peek_expr(expr, ts).await?)
}

pub async fn explain(client: &CoordClient, expr: &RelationExpr) -> ExecuteResponse {
    let catalog = client.inner.catalog.read().await;
    // What runs: the plan after the rewrites every read and view goes through.
    let text = freshet_expr::optimize(expr.clone()).explain(&|id| catalog.get(id).map(|e| e.name.clone()));
    ExecuteResponse::text_rows(&["QUERY PLAN"], text.lines().map(|l| vec![l.to_string()]).collect())
}

pub async fn show_objects(client: &CoordClient, kind: ObjectKind) -> Result<ExecuteResponse, CoordError> {
    let catalog = client.inner.catalog.read().await;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for entry in catalog.entries() {
        let entry_kind = entry.object_kind();
        match kind {
            ObjectKind::Source if entry_kind == ObjectKind::Source => {
                rows.push(vec![entry.name.clone(), "kinesis".into()])
            }
            ObjectKind::Source if entry_kind == ObjectKind::Progress => {
                rows.push(vec![entry.name.clone(), "progress".into()])
            }
            _ if entry_kind == kind => rows.push(vec![entry.name.clone()]),
            _ => {}
        }
    }
    rows.sort();
    let names: &[&str] = if kind == ObjectKind::Source { &["name", "type"] } else { &["name"] };
    Ok(ExecuteResponse::text_rows(names, rows))
}

pub async fn show_columns(client: &CoordClient, id: GlobalId) -> Result<ExecuteResponse, CoordError> {
    let catalog = client.inner.catalog.read().await;
    let entry = catalog.get(id).ok_or_else(|| CoordError::Internal(format!("no catalog entry {id}")))?;
    let rows = entry
        .desc
        .iter()
        .map(|(name, typ)| {
            let nullable = if typ.nullable { "YES" } else { "NO" };
            vec![name.to_string(), nullable.to_string(), typ.scalar_type.name().to_string()]
        })
        .collect();
    Ok(ExecuteResponse::text_rows(&["name", "nullable", "type"], rows))
}

pub async fn show_create(client: &CoordClient, kind: ObjectKind, name: &str) -> Result<ExecuteResponse, CoordError> {
    let catalog = client.inner.catalog.read().await;
    let entry = catalog
        .by_name(name)
        .filter(|e| e.object_kind() == kind)
        .ok_or_else(|| CoordError::UnknownObject { kind: kind.name().to_string(), name: name.to_string() })?;
    let sql = match &entry.detail {
        EntryDetail::Progress { .. } => format!("-- progress collection of a source\n{}", entry.create_sql),
        _ => entry.create_sql.clone(),
    };
    Ok(ExecuteResponse::text_rows(&["name", "create_sql"], vec![vec![entry.name.clone(), sql]]))
}
