//! The planner's view of the catalog for one statement. It records every relation the planner
//! resolves, because plans inline views and so lose track of them; those are the statement's
//! dependencies.

use std::cell::RefCell;
use std::collections::HashMap;

use freshet_repr::GlobalId;
use freshet_sql::catalog::ObjectKind;
use freshet_sql::{CatalogItem, SessionCatalog};

use crate::catalog::{Catalog, EntryDetail};

pub struct PlanCatalog<'a> {
    catalog: &'a Catalog,
    variables: &'a HashMap<String, String>,
    resolved: RefCell<Vec<GlobalId>>,
}

impl<'a> PlanCatalog<'a> {
    pub fn new(catalog: &'a Catalog, variables: &'a HashMap<String, String>) -> Self {
        PlanCatalog { catalog, variables, resolved: RefCell::new(Vec::new()) }
    }

    /// The relations resolved so far, in first-use order.
    pub fn resolved(&self) -> Vec<GlobalId> {
        self.resolved.borrow().clone()
    }
}

impl SessionCatalog for PlanCatalog<'_> {
    fn resolve(&self, name: &str) -> Option<CatalogItem> {
        if let Some(item) = crate::introspection::item(name) {
            return Some(item);
        }
        let entry = self.catalog.by_name(name)?;
        let mut resolved = self.resolved.borrow_mut();
        if !resolved.contains(&entry.id) {
            resolved.push(entry.id);
        }
        Some(entry.to_item())
    }

    fn list(&self, kind: ObjectKind) -> Vec<CatalogItem> {
        let mut items: Vec<CatalogItem> =
            self.catalog.entries().filter(|e| e.object_kind() == kind).map(|e| e.to_item()).collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }

    /// A source's own progress collection is part of it, so it is not a dependent; what reads the
    /// progress collection is.
    fn dependents(&self, id: GlobalId) -> Vec<CatalogItem> {
        let mut out = Vec::new();
        for dependent in self.catalog.dependents(id) {
            match dependent.detail {
                EntryDetail::Progress { source_id } if source_id == id => {
                    out.extend(self.catalog.dependents(dependent.id).into_iter().map(|e| e.to_item()))
                }
                _ => out.push(dependent.to_item()),
            }
        }
        out
    }

    fn session_variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).cloned()
    }
}
