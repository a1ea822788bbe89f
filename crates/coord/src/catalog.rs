//! The catalog: every relation Freshet knows, kept in memory and in one JSON file in the data
//! directory (written to a temporary file, fsynced, then renamed over the old one, so a crash
//! leaves either the old or the new catalog, never a mix).
//!
//! The file holds source credentials, so it is created readable by its owner only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use freshet_expr::RelationExpr;
use freshet_repr::{GlobalId, RelationDesc};
use freshet_sql::catalog::ObjectKind;
use freshet_sql::{CatalogItem, ItemKind};
use freshet_storage::SourceDesc;
use serde::{Deserialize, Serialize};

use crate::CoordError;

/// What kind of relation an entry is, with what it needs to be re-created at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum EntryDetail {
    Table,
    Source { source: SourceDesc, progress_id: GlobalId },
    Progress { source_id: GlobalId },
    View { expr: RelationExpr },
    MaterializedView { expr: RelationExpr },
}

/// One relation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: GlobalId,
    pub name: String,
    pub desc: RelationDesc,
    /// The statement that created it, secrets redacted.
    pub create_sql: String,
    /// The relations it reads (views included, even though plans inline them).
    pub depends_on: Vec<GlobalId>,
    pub detail: EntryDetail,
}

impl CatalogEntry {
    pub fn object_kind(&self) -> ObjectKind {
        match self.detail {
            EntryDetail::Table => ObjectKind::Table,
            EntryDetail::Source { .. } => ObjectKind::Source,
            EntryDetail::Progress { .. } => ObjectKind::Progress,
            EntryDetail::View { .. } => ObjectKind::View,
            EntryDetail::MaterializedView { .. } => ObjectKind::MaterializedView,
        }
    }

    /// The entry as the planner sees it.
    pub fn to_item(&self) -> CatalogItem {
        let kind = match &self.detail {
            EntryDetail::View { expr } => ItemKind::View(expr.clone()),
            _ => ItemKind::Stored,
        };
        CatalogItem {
            id: self.id,
            name: self.name.clone(),
            object_kind: self.object_kind(),
            desc: self.desc.clone(),
            kind,
            create_sql: self.create_sql.clone(),
        }
    }

    /// Whether the dataflow cluster holds a collection for this entry.
    pub fn has_collection(&self) -> bool {
        !matches!(self.detail, EntryDetail::View { .. })
    }
}

#[derive(Default, Serialize, Deserialize)]
struct CatalogFile {
    next_id: u64,
    entries: Vec<CatalogEntry>,
}

/// The in-memory catalog and its file.
pub struct Catalog {
    path: PathBuf,
    next_id: u64,
    entries: BTreeMap<GlobalId, CatalogEntry>,
    /// Counts the changes applied since start-up, so that kept plans can tell whether they were
    /// made against the catalog as it is (`plan_cache`).
    generation: u64,
}

impl Catalog {
    /// Loads the catalog from `data_dir`, or starts an empty one.
    pub fn open(data_dir: &Path) -> Result<Catalog, CoordError> {
        let path = data_dir.join("catalog.json");
        let file: CatalogFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CoordError::Storage(format!("catalog {} is unreadable: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CatalogFile { next_id: 1, entries: Vec::new() },
            Err(e) => return Err(CoordError::Storage(format!("reading catalog {}: {e}", path.display()))),
        };
        let entries = file.entries.into_iter().map(|e| (e.id, e)).collect();
        Ok(Catalog { path, next_id: file.next_id.max(1), entries, generation: 0 })
    }

    /// Changes with every `transact`.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn allocate_id(&mut self) -> GlobalId {
        let id = GlobalId(self.next_id);
        self.next_id += 1;
        id
    }

    pub fn get(&self, id: GlobalId) -> Option<&CatalogEntry> {
        self.entries.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&CatalogEntry> {
        self.entries.values().find(|e| e.name == name)
    }

    /// Entries in creation order (dependencies before dependents).
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// The entries that read `id` directly.
    pub fn dependents(&self, id: GlobalId) -> Vec<&CatalogEntry> {
        self.entries.values().filter(|e| e.depends_on.contains(&id)).collect()
    }

    /// `id` and everything that depends on it transitively, dependents first (the order to drop in).
    pub fn drop_order(&self, id: GlobalId) -> Vec<GlobalId> {
        let mut order = Vec::new();
        self.collect_dependents(id, &mut order);
        order
    }

    fn collect_dependents(&self, id: GlobalId, order: &mut Vec<GlobalId>) {
        if order.contains(&id) {
            return;
        }
        for dependent in self.dependents(id) {
            self.collect_dependents(dependent.id, order);
        }
        order.push(id);
    }

    /// Applies a change and persists the whole catalog before returning; on a write failure the
    /// in-memory catalog is rolled back so memory and disk agree.
    pub fn transact(&mut self, add: Vec<CatalogEntry>, remove: &[GlobalId]) -> Result<(), CoordError> {
        // Even a change rolled back below ends the plans made before it: they are re-made, not wrong.
        self.generation += 1;
        let before = self.entries.clone();
        for id in remove {
            self.entries.remove(id);
        }
        for entry in add {
            self.entries.insert(entry.id, entry);
        }
        if let Err(e) = self.persist() {
            self.entries = before;
            return Err(e);
        }
        Ok(())
    }

    fn persist(&self) -> Result<(), CoordError> {
        let file = CatalogFile { next_id: self.next_id, entries: self.entries.values().cloned().collect() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| CoordError::Internal(e.to_string()))?;
        write_atomically(&self.path, &bytes)
            .map_err(|e| CoordError::Storage(format!("writing catalog {}: {e}", self.path.display())))
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new contents.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
