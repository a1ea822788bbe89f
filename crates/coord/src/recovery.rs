//! Start-up: re-creating every collection of the catalog on the cluster and replaying the table
//! log, so that views answer as they did before the restart. Sources start first and replay their
//! own logs (in the cluster) at their original timestamps while the table log is read; logs of
//! sources the catalog no longer has are deleted.

use std::collections::{BTreeMap, BTreeSet};

use freshet_repr::{Diff, GlobalId, Row};
use freshet_storage::LogBatch;

use freshet_dataflow::Cluster;

use crate::catalog::{Catalog, EntryDetail};
use crate::{CoordClient, CoordError};

/// Creates every source of `catalog` on `cluster`, after deleting the logs of dropped ones.
pub fn start_sources(cluster: &Cluster, catalog: &Catalog, data_dir: &std::path::Path) {
    let entries: Vec<_> = catalog.entries().cloned().collect();
    remove_orphan_source_logs(data_dir, &entries);
    for entry in &entries {
        if let EntryDetail::Source { source, progress_id } = &entry.detail {
            cluster.create_source(entry.id, *progress_id, &entry.name, source, &entry.desc);
        }
    }
}

/// Creates the tables (with their logged contents) and the materialized views of the catalog;
/// `start_sources` created the sources.
pub async fn recover(client: &CoordClient, batches: Vec<LogBatch>) -> Result<(), CoordError> {
    let entries: Vec<_> = client.inner.catalog.read().await.entries().cloned().collect();
    let tables = entries.iter().filter(|e| matches!(e.detail, EntryDetail::Table)).map(|e| e.id).collect();
    let mut contents = contents_by_table(batches, &tables);
    let cluster = client.cluster()?;
    let start_ts = client.oracle()?.write_ts();
    for entry in &entries {
        match &entry.detail {
            EntryDetail::Table => {
                cluster.create_table(entry.id, &entry.desc, start_ts);
                let rows = contents.remove(&entry.id).unwrap_or_default();
                if !rows.is_empty() {
                    cluster.update_table(entry.id, rows, start_ts);
                }
            }
            EntryDetail::Source { .. } | EntryDetail::Progress { .. } | EntryDetail::View { .. } => {}
            EntryDetail::MaterializedView { expr } => {
                client.advance_tables(start_ts + 1)?;
                crate::ddl::start_view(client, entry.id, expr)?;
            }
        }
    }
    client.advance_tables(start_ts + 1)?;
    tracing::info!(relations = entries.len(), tables = tables.len(), "recovered catalog");
    Ok(())
}

/// Deletes the logs of sources that were dropped while their files could not be removed (a crash
/// between the catalog change and the deletion). Failures are logged: they only waste space.
fn remove_orphan_source_logs(data_dir: &std::path::Path, entries: &[crate::catalog::CatalogEntry]) {
    let sources: Vec<GlobalId> =
        entries.iter().filter(|e| matches!(e.detail, EntryDetail::Source { .. })).map(|e| e.id).collect();
    let dir = freshet_storage::source_log::sources_dir(data_dir);
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

/// Every live table's logged updates. They are not consolidated here: the table's arrangement sums
/// them on the workers anyway, and compaction already consolidated all but the newest segment, so
/// sorting a million rows on the coordinator's thread first only delayed start-up.
fn contents_by_table(batches: Vec<LogBatch>, tables: &BTreeSet<GlobalId>) -> BTreeMap<GlobalId, Vec<(Row, Diff)>> {
    let mut contents: BTreeMap<GlobalId, Vec<(Row, Diff)>> = BTreeMap::new();
    for (id, row, diff) in batches.into_iter().flat_map(|b| b.updates) {
        if tables.contains(&id) {
            contents.entry(id).or_default().push((row, diff));
        }
    }
    contents
}
