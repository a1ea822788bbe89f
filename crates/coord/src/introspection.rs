//! Introspection relations: read-only relations in schema `mz_internal` whose rows the coordinator
//! computes when a query reads them (today `mz_source_statuses`, as Materialize names it).
//!
//! The planner resolves them like stored relations (a `Get` of a reserved id); before a read runs,
//! `substitute` replaces those `Get`s with constants. They cannot be materialized or written, and
//! no user object can be created in their schema. This module must not plan SQL.

use freshet_expr::RelationExpr;
use freshet_repr::{ColumnType, Datum, Diff, GlobalId, RelationDesc, Row, ScalarType};
use freshet_sql::catalog::ObjectKind;
use freshet_sql::names::INTERNAL_SCHEMA;
use freshet_sql::{CatalogItem, ItemKind};

use crate::catalog::EntryDetail;
use crate::{CoordClient, CoordError};

pub const SOURCE_STATUSES: &str = "mz_internal.mz_source_statuses";
/// From the top of the id space, which the catalog never allocates.
pub const SOURCE_STATUSES_ID: GlobalId = GlobalId(u64::MAX - 1);

pub fn is_introspection(id: GlobalId) -> bool {
    id == SOURCE_STATUSES_ID
}

/// Whether `name` (a catalog name) is in the introspection schema, where nothing can be created.
pub fn is_reserved_name(name: &str) -> bool {
    name.strip_prefix(INTERNAL_SCHEMA).is_some_and(|rest| rest.starts_with('.'))
}

/// The planner's item for an introspection relation's name.
pub fn item(name: &str) -> Option<CatalogItem> {
    (name == SOURCE_STATUSES).then(|| CatalogItem {
        id: SOURCE_STATUSES_ID,
        name: name.to_string(),
        object_kind: ObjectKind::View,
        desc: source_statuses_desc(),
        kind: ItemKind::Stored,
        create_sql: String::new(),
    })
}

fn source_statuses_desc() -> RelationDesc {
    let text = |nullable| ColumnType::new(ScalarType::Text, nullable);
    RelationDesc::new(vec![
        ("id".into(), text(false)),
        ("name".into(), text(false)),
        ("type".into(), text(false)),
        ("last_status_change_at".into(), ColumnType::new(ScalarType::TimestampTz, true)),
        ("status".into(), text(false)),
        ("error".into(), text(true)),
    ])
}

/// `expr` with every introspection relation replaced by its current rows; `None` when `expr`
/// reads none (the common case pays no copy).
pub async fn substitute(client: &CoordClient, expr: &RelationExpr) -> Result<Option<RelationExpr>, CoordError> {
    if !expr.depends_on().into_iter().any(is_introspection) {
        return Ok(None);
    }
    let mut expr = expr.clone();
    let rows = source_status_rows(client).await?;
    expr.visit_mut(&mut |node| {
        if let RelationExpr::Get { id, typ } = node {
            if *id == SOURCE_STATUSES_ID {
                *node = RelationExpr::Constant { rows: rows.clone(), typ: typ.clone() };
            }
        }
    });
    Ok(Some(expr))
}

/// One row per source: its health as the workers report it ("starting" until one has).
async fn source_status_rows(client: &CoordClient) -> Result<Vec<(Row, Diff)>, CoordError> {
    let cluster = client.cluster()?;
    let catalog = client.inner.catalog.read().await;
    let mut rows = Vec::new();
    for entry in catalog.entries().filter(|e| matches!(e.detail, EntryDetail::Source { .. })) {
        let status = cluster.source_status(entry.id);
        let (health, error, changed) = match &status {
            Some(s) => (s.health.name(), s.error.clone(), Datum::TimestampTz(s.changed_at_ms as i64 * 1000)),
            None => ("starting", None, Datum::Null),
        };
        let row = Row::new(vec![
            Datum::text(entry.id.to_string()),
            Datum::text(&entry.name),
            Datum::text("kinesis"),
            changed,
            Datum::text(health),
            error.map_or(Datum::Null, Datum::text),
        ]);
        rows.push((row, 1));
    }
    Ok(rows)
}
