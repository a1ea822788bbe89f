//! What the planner needs to know about the catalog: names, kinds, columns, and view definitions.

use freshet_expr::RelationExpr;
use freshet_repr::{GlobalId, RelationDesc};
use serde::{Deserialize, Serialize};

/// The kinds of catalog objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    Table,
    Source,
    View,
    MaterializedView,
    /// A source's progress collection.
    Progress,
}

impl ObjectKind {
    /// The name used in messages and `DROP` statements (`materialized view`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Source => "source",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Progress => "progress collection",
        }
    }
}

/// How a relation is read in a plan.
#[derive(Clone, Debug)]
pub enum ItemKind {
    /// Read with `RelationExpr::Get` (tables, sources, materialized views, progress collections).
    Stored,
    /// Inlined: the view's planned definition.
    View(RelationExpr),
}

/// One relation as the planner sees it.
#[derive(Clone, Debug)]
pub struct CatalogItem {
    pub id: GlobalId,
    pub name: String,
    pub object_kind: ObjectKind,
    pub desc: RelationDesc,
    pub kind: ItemKind,
    /// The SQL that created it (for `SHOW CREATE`), with secrets redacted.
    pub create_sql: String,
}

/// The planner's read-only view of the catalog and of the session.
pub trait SessionCatalog {
    /// Resolves an unqualified, already-normalized (lower-cased unless quoted) relation name.
    fn resolve(&self, name: &str) -> Option<CatalogItem>;
    /// Every item of `kind`, sorted by name.
    fn list(&self, kind: ObjectKind) -> Vec<CatalogItem>;
    /// The items that read `id` directly.
    fn dependents(&self, id: GlobalId) -> Vec<CatalogItem>;
    /// A session or server variable (`server_version`, `database` for `current_database()`, ...).
    fn session_variable(&self, name: &str) -> Option<String>;
}
