//! Start-up: re-creating every collection of the catalog on the cluster and replaying the table
//! log, so that views answer as they did before the restart. Sources replay their own logs (in the
//! cluster) at their original timestamps; logs of sources the catalog no longer has are deleted.

use std::collections::BTreeMap;

use freshet_repr::{Diff, GlobalId, Row};
use freshet_storage::LogBatch;

use crate::catalog::EntryDetail;
use crate::{CoordClient, CoordError};

pub async fn recover(client: &CoordClient, batches: Vec<LogBatch>) -> Result<(), CoordError> {
    let entries: Vec<_> = client.inner.catalog.lock().await.entries().cloned().collect();
    let contents = consolidate(batches);
    let cluster = client.cluster()?;
    remove_orphan_source_logs(client, &entries);
    let start_ts = client.oracle()?.write_ts();
    for entry in &entries {
        match &entry.detail {
            EntryDetail::Table => {
                cluster.create_table(entry.id, &entry.desc, start_ts);
                let rows = contents.get(&entry.id).cloned().unwrap_or_default();
                if !rows.is_empty() {
                    cluster.update_table(entry.id, rows, start_ts);
                }
            }
            EntryDetail::Source { .. } => crate::ddl::start_source(client, entry)?,
            EntryDetail::Progress { .. } | EntryDetail::View { .. } => {}
            EntryDetail::MaterializedView { expr } => {
                client.advance_tables(start_ts + 1)?;
                crate::ddl::start_view(client, entry.id, expr)?;
            }
        }
    }
    client.advance_tables(start_ts + 1)?;
    tracing::info!(relations = entries.len(), tables = contents.len(), "recovered catalog");
    Ok(())
}

/// Deletes the logs of sources that were dropped while their files could not be removed (a crash
/// between the catalog change and the deletion). Failures are logged: they only waste space.
fn remove_orphan_source_logs(client: &CoordClient, entries: &[crate::catalog::CatalogEntry]) {
    let sources: Vec<GlobalId> =
        entries.iter().filter(|e| matches!(e.detail, EntryDetail::Source { .. })).map(|e| e.id).collect();
    let dir = freshet_storage::source_log::sources_dir(&client.inner.data_dir);
    let Ok(files) = std::fs::read_dir(&dir) else { return };
    for file in files.flatten() {
        let name = file.file_name().to_string_lossy().to_string();
        let owner = name.split_once("-w").map(|(id, _)| id.to_string());
        if owner.is_some_and(|id| !sources.iter().any(|s| s.to_string() == id)) {
            tracing::info!(file = %name, "deleting the log of a dropped source");
            if let Err(error) = std::fs::remove_file(file.path()) {
                tracing::warn!(file = %name, %error, "cannot delete an orphan source log");
            }
        }
    }
}

/// Sums every row's diffs per table, dropping rows that cancel out.
fn consolidate(batches: Vec<LogBatch>) -> BTreeMap<GlobalId, Vec<(Row, Diff)>> {
    let mut sums: BTreeMap<GlobalId, BTreeMap<Row, Diff>> = BTreeMap::new();
    for batch in batches {
        for (id, row, diff) in batch.updates {
            *sums.entry(id).or_default().entry(row).or_default() += diff;
        }
    }
    sums.into_iter().map(|(id, rows)| (id, rows.into_iter().filter(|(_, d)| *d != 0).collect())).collect()
}
