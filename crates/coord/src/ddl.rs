//! Catalog changes: CREATE TABLE / SOURCE / VIEW / MATERIALIZED VIEW and DROP. Each change is
//! persisted in the catalog before the cluster is told, so a crash never leaves a collection the
//! catalog does not know.

use freshet_expr::RelationExpr;
use freshet_repr::{ColumnType, GlobalId, RelationDesc, ScalarType};
use freshet_sql::catalog::ObjectKind;
use freshet_sql::{Plan, SqlError};

use crate::catalog::{Catalog, CatalogEntry, EntryDetail};
use crate::{CoordClient, CoordError, ExecuteResponse};

pub async fn execute(
    client: &CoordClient,
    plan: Plan,
    depends_on: Vec<GlobalId>,
    notices: &mut Vec<String>,
) -> Result<ExecuteResponse, CoordError> {
    match plan {
        Plan::CreateTable { name, desc, if_not_exists, create_sql } => {
            let mut catalog = client.inner.catalog.write().await;
            if exists(&catalog, &name, if_not_exists, ObjectKind::Table)? {
                notices.push(skipping(&name));
                return Ok(ExecuteResponse::tag("CREATE TABLE"));
            }
            let id = catalog.allocate_id();
            let entry = CatalogEntry { id, name, desc, create_sql, depends_on, detail: EntryDetail::Table };
            catalog.transact(vec![entry.clone()], &[])?;
            let as_of = client.oracle()?.advanced_to();
            client.cluster()?.create_table(id, &entry.desc, as_of);
            Ok(ExecuteResponse::tag("CREATE TABLE"))
        }
        Plan::CreateSource { name, if_not_exists, source, desc, progress_name, create_sql } => {
            crate::source::check_reachable(&source).await?;
            let mut catalog = client.inner.catalog.write().await;
            if exists(&catalog, &name, if_not_exists, ObjectKind::Source)? {
                notices.push(skipping(&name));
                return Ok(ExecuteResponse::tag("CREATE SOURCE"));
            }
            exists(&catalog, &progress_name, false, ObjectKind::Progress)?;
            let id = catalog.allocate_id();
            let progress_id = catalog.allocate_id();
            let source_entry = CatalogEntry {
                id,
                name: name.clone(),
                desc,
                create_sql: create_sql.clone(),
                depends_on: Vec::new(),
                detail: EntryDetail::Source { source, progress_id },
            };
            let progress_entry = CatalogEntry {
                id: progress_id,
                name: progress_name,
                desc: progress_desc(),
                create_sql,
                depends_on: vec![id],
                detail: EntryDetail::Progress { source_id: id },
            };
            catalog.transact(vec![source_entry.clone(), progress_entry], &[])?;
            // A new source starts from the stream's beginning, whatever a crash left behind.
            remove_source_logs(client, id)?;
            start_source(client, &source_entry)?;
            Ok(ExecuteResponse::tag("CREATE SOURCE"))
        }
        Plan::CreateView { name, if_not_exists, or_replace, materialized, expr, desc, create_sql } => {
            let kind = if materialized { ObjectKind::MaterializedView } else { ObjectKind::View };
            let tag = if materialized { "CREATE MATERIALIZED VIEW" } else { "CREATE VIEW" };
            if materialized && expr.depends_on().into_iter().any(crate::introspection::is_introspection) {
                let what = "materialized views over mz_internal relations".to_string();
                return Err(SqlError::Unsupported(what).into());
            }
            let mut catalog = client.inner.catalog.write().await;
            let replaced = match catalog.by_name(&name) {
                Some(old) if or_replace && old.object_kind() == kind => Some(old.id),
                _ => None,
            };
            if replaced.is_none() && exists(&catalog, &name, if_not_exists, kind)? {
                notices.push(skipping(&name));
                return Ok(ExecuteResponse::tag(tag));
            }
            if let Some(old) = replaced {
                if depends_on.contains(&old) {
                    return Err(
                        SqlError::InvalidObjectDefinition(format!("view \"{name}\" cannot depend on itself")).into()
                    );
                }
            }
            let id = catalog.allocate_id();
            let detail = if materialized { EntryDetail::MaterializedView { expr } } else { EntryDetail::View { expr } };
            let entry = CatalogEntry { id, name, desc, create_sql, depends_on, detail };
            let removed: Vec<GlobalId> = replaced.into_iter().collect();
            // A new view starts computing while the catalog is made durable (an fsync and a rename,
            // about a millisecond); nobody can read it before it is in the catalog, and it is
            // dropped again if the catalog cannot be written. A replacement starts after its
            // predecessor is dropped, as before.
            let early = match &entry.detail {
                EntryDetail::MaterializedView { expr } if removed.is_empty() => Some(expr),
                _ => None,
            };
            if let Some(expr) = early {
                start_view(client, id, expr)?;
            }
            if let Err(error) = catalog.transact(vec![entry.clone()], &removed) {
                if early.is_some() {
                    client.cluster()?.drop_collection(id).await;
                }
                return Err(error);
            }
            if materialized {
                for old in removed {
                    client.cluster()?.drop_collection(old).await;
                }
            }
            if let (EntryDetail::MaterializedView { expr }, None) = (&entry.detail, early) {
                start_view(client, id, expr)?;
            }
            Ok(ExecuteResponse::tag(tag))
        }
        Plan::Drop { kind, names, if_exists, cascade } => drop_objects(client, kind, names, if_exists, cascade).await,
        _ => Err(CoordError::Internal("not a catalog change".into())),
    }
}

fn skipping(name: &str) -> String {
    format!("relation \"{name}\" already exists, skipping")
}

/// Whether `name` is taken: `Ok(true)` means "skip, IF NOT EXISTS"; taken without it is an error.
fn exists(catalog: &Catalog, name: &str, if_not_exists: bool, kind: ObjectKind) -> Result<bool, CoordError> {
    if crate::introspection::is_reserved_name(name) {
        return Err(CoordError::ReadOnlySchema(name.to_string()));
    }
    match catalog.by_name(name) {
        None => Ok(false),
        Some(_) if if_not_exists => Ok(true),
        Some(existing) => {
            let kind_name = if existing.object_kind() == kind { kind.name() } else { "relation" };
            Err(SqlError::AlreadyExists { kind: kind_name.to_string(), name: name.to_string() }.into())
        }
    }
}

fn progress_desc() -> RelationDesc {
    RelationDesc::new(vec![
        ("shard_id".into(), ColumnType::new(ScalarType::Text, false)),
        ("sequence_number".into(), ColumnType::new(ScalarType::Numeric, false)),
    ])
}

pub fn start_source(client: &CoordClient, entry: &CatalogEntry) -> Result<(), CoordError> {
    if let EntryDetail::Source { source, progress_id } = &entry.detail {
        client.cluster()?.create_source(entry.id, *progress_id, &entry.name, source, &entry.desc);
    }
    Ok(())
}

/// Deletes the ingestion logs of source `id`.
pub fn remove_source_logs(client: &CoordClient, id: GlobalId) -> Result<(), CoordError> {
    freshet_storage::source_log::remove_source_logs(&client.inner.data_dir, id)
        .map_err(|e| CoordError::Storage(format!("cannot delete the logs of source {id}: {e}")))
}

pub fn start_view(client: &CoordClient, id: GlobalId, expr: &RelationExpr) -> Result<(), CoordError> {
    let as_of = crate::read::read_timestamp(client)?;
    // The catalog keeps the plan as planned; what runs is optimized each time it starts.
    client.cluster()?.create_view(id, &freshet_expr::optimize(expr.clone()), as_of);
    Ok(())
}

async fn drop_objects(
    client: &CoordClient,
    kind: ObjectKind,
    names: Vec<String>,
    if_exists: bool,
    cascade: bool,
) -> Result<ExecuteResponse, CoordError> {
    let mut catalog = client.inner.catalog.write().await;
    let mut to_drop: Vec<GlobalId> = Vec::new();
    for name in &names {
        let Some(entry) = catalog.by_name(name).filter(|e| e.object_kind() == kind) else {
            if if_exists {
                continue;
            }
            return Err(CoordError::UnknownObject { kind: kind.name().to_string(), name: name.clone() });
        };
        let order = catalog.drop_order(entry.id);
        let others: Vec<&str> = order
            .iter()
            .filter(|id| **id != entry.id && !is_own_progress(&catalog, **id, entry.id))
            .filter_map(|id| catalog.get(*id).map(|e| e.name.as_str()))
            .collect();
        if !cascade && !others.is_empty() {
            return Err(SqlError::DependentObjects(format!(
                "cannot drop {} {name} because other objects depend on it ({})",
                kind.name(),
                others.join(", ")
            ))
            .into());
        }
        for id in order {
            if !to_drop.contains(&id) {
                to_drop.push(id);
            }
        }
    }
    let with_collections: Vec<GlobalId> =
        to_drop.iter().copied().filter(|id| catalog.get(*id).is_some_and(|e| e.has_collection())).collect();
    catalog.transact(Vec::new(), &to_drop)?;
    drop(catalog);
    let cluster = client.cluster()?;
    for id in with_collections {
        cluster.drop_collection(id).await;
    }
    Ok(ExecuteResponse::tag(format!("DROP {}", kind.name().to_uppercase())))
}

fn is_own_progress(catalog: &Catalog, id: GlobalId, source_id: GlobalId) -> bool {
    matches!(catalog.get(id).map(|e| &e.detail), Some(EntryDetail::Progress { source_id: s }) if *s == source_id)
}
