//! Table writes: INSERT, UPDATE and DELETE. A write is durable (fsynced to the table log) before
//! it is applied to the cluster and acknowledged. Inside an explicit transaction the computed
//! changes are buffered and committed together, at one timestamp, by COMMIT.

use freshet_expr::RelationExpr;
use freshet_repr::{Datum, Diff, GlobalId, Row};
use freshet_sql::plan::MutationKind;
use freshet_storage::LogBatch;

use crate::{CoordClient, CoordError, ExecuteResponse};

/// Where a statement's changes go: applied now (autocommit), or buffered in a transaction.
pub enum Apply<'a> {
    Now,
    Buffer(&'a mut Vec<(GlobalId, Row, Diff)>),
}

impl Apply<'_> {
    fn apply(self, client: &CoordClient, target: GlobalId, updates: Vec<(Row, Diff)>) -> Result<(), CoordError> {
        let updates = updates.into_iter().map(|(row, diff)| (target, row, diff));
        match self {
            Apply::Now => commit(client, updates.collect()),
            Apply::Buffer(buffer) => {
                buffer.extend(updates);
                Ok(())
            }
        }
    }
}

pub async fn insert(
    client: &CoordClient,
    target: GlobalId,
    rows: RelationExpr,
    apply: Apply<'_>,
) -> Result<ExecuteResponse, CoordError> {
    let _guard = client.inner.write_lock.lock().await;
    let ts = crate::read::read_timestamp(client)?;
    let rows = crate::read::read_rows(client, &rows, ts).await?;
    check_not_null(client, target, &rows).await?;
    let count: Diff = rows.iter().map(|(_, d)| *d).sum();
    apply.apply(client, target, rows)?;
    Ok(ExecuteResponse::tag(format!("INSERT 0 {count}")))
}

pub async fn mutate(
    client: &CoordClient,
    target: GlobalId,
    selection: RelationExpr,
    kind: MutationKind,
    apply: Apply<'_>,
) -> Result<ExecuteResponse, CoordError> {
    let _guard = client.inner.write_lock.lock().await;
    let ts = crate::read::read_timestamp(client)?;
    let selected = crate::read::read_rows(client, &selection, ts).await?;
    let count: Diff = selected.iter().map(|(_, d)| *d).sum();
    let mut updates: Vec<(Row, Diff)> = Vec::with_capacity(selected.len() * 2);
    for (row, diff) in selected {
        if let MutationKind::Update(exprs) = &kind {
            let new_row = exprs
                .iter()
                .map(|e| e.eval(row.datums()))
                .collect::<Result<Row, _>>()
                .map_err(freshet_repr::DataflowError::from)?;
            updates.push((new_row, diff));
        }
        updates.push((row, -diff));
    }
    if matches!(kind, MutationKind::Update(_)) {
        let inserted: Vec<(Row, Diff)> = updates.iter().filter(|(_, d)| *d > 0).cloned().collect();
        check_not_null(client, target, &inserted).await?;
    }
    apply.apply(client, target, updates)?;
    let verb = if matches!(kind, MutationKind::Delete) { "DELETE" } else { "UPDATE" };
    Ok(ExecuteResponse::tag(format!("{verb} {count}")))
}

/// Logs, fsyncs, and applies `updates` at one fresh write timestamp: all of them or none.
pub fn commit(client: &CoordClient, updates: Vec<(GlobalId, Row, Diff)>) -> Result<(), CoordError> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut oracle = client.oracle()?;
    let ts = oracle.write_ts();
    let batch = LogBatch { ts, updates };
    {
        let mut log =
            client.inner.table_log.lock().map_err(|_| CoordError::Internal("table log lock poisoned".into()))?;
        log.append(&batch).map_err(|e| CoordError::Storage(e.to_string()))?;
        compact_in_background(client, &mut log);
    }
    let cluster = client.cluster()?;
    let mut per_table: std::collections::BTreeMap<GlobalId, Vec<(Row, Diff)>> = Default::default();
    for (id, row, diff) in batch.updates {
        per_table.entry(id).or_default().push((row, diff));
    }
    for (id, rows) in per_table {
        cluster.update_table(id, rows, ts);
    }
    if oracle.advance_to(ts + 1) {
        cluster.advance_tables(ts + 1);
    }
    Ok(())
}

async fn check_not_null(client: &CoordClient, target: GlobalId, rows: &[(Row, Diff)]) -> Result<(), CoordError> {
    let catalog = client.inner.catalog.read().await;
    let entry = catalog.get(target).ok_or_else(|| CoordError::Internal(format!("table {target} vanished")))?;
    for (row, _) in rows {
        for ((name, typ), datum) in entry.desc.iter().zip(row.iter()) {
            if !typ.nullable && *datum == Datum::Null {
                return Err(CoordError::NotNullViolation { column: name.to_string(), relation: entry.name.clone() });
            }
        }
    }
    Ok(())
}

/// Starts a compaction of the table log's closed segments on its own thread when one is due,
/// keeping only tables the catalog still has. A failed compaction leaves the old segments in force.
fn compact_in_background(client: &CoordClient, log: &mut freshet_storage::TableLog) {
    let job = match log.compaction_due() {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot look for table log segments to compact");
            return;
        }
    };
    let client = client.clone();
    let spawned = std::thread::Builder::new().name("table-log-compaction".into()).spawn(move || {
        let live: std::collections::BTreeSet<GlobalId> = client
            .inner
            .catalog
            .blocking_read()
            .entries()
            .filter(|e| matches!(e.detail, crate::catalog::EntryDetail::Table))
            .map(|e| e.id)
            .collect();
        match freshet_storage::log::compact_table_log(job, &live) {
            Ok(stats) => tracing::info!(?stats, "compacted the table log"),
            Err(error) => tracing::error!(%error, "table log compaction failed"),
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start a table log compaction");
    }
}
