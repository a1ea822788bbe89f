//! The planner's view of the catalog for one statement. It records every relation the planner
//! resolves, because plans inline views and so lose track of them; those are the statement's
//! dependencies. It also notes whether the planner read anything that changes without a catalog
//! or variable change (introspection relations, listings, the statement timestamp), which a kept
//! plan must not depend on (`plan_cache`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use freshet_repr::GlobalId;
use freshet_sql::catalog::ObjectKind;
use freshet_sql::{CatalogItem, SessionCatalog};

use crate::catalog::{Catalog, EntryDetail};

/// The session variable the planner reads the current statement's start time from (`now()`).
pub const STATEMENT_TIMESTAMP: &str = "statement_timestamp";

pub struct PlanCatalog<'a> {
    catalog: &'a Catalog,
    variables: &'a HashMap<String, String>,
    statement_micros: Option<i64>,
    resolved: RefCell<Vec<GlobalId>>,
    volatile: Cell<bool>,
}

impl<'a> PlanCatalog<'a> {
    /// `statement_micros` is the current statement's start time, `None` outside a statement.
    pub fn new(catalog: &'a Catalog, variables: &'a HashMap<String, String>, statement_micros: Option<i64>) -> Self {
        PlanCatalog {
            catalog,
            variables,
            statement_micros,
            resolved: RefCell::new(Vec::new()),
            volatile: Cell::new(false),
        }
    }

    /// Whether the planner read something that can change while the catalog and the session's
    /// variables do not.
    pub fn read_volatile(&self) -> bool {
        self.volatile.get()
    }

    /// The relations resolved so far, in first-use order.
    pub fn resolved(&self) -> Vec<GlobalId> {
        self.resolved.borrow().clone()
    }
}

impl SessionCatalog for PlanCatalog<'_> {
    fn resolve(&self, name: &str) -> Option<CatalogItem> {
        if let Some(item) = crate::introspection::item(name) {
            self.volatile.set(true);
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
        self.volatile.set(true);
        let mut items: Vec<CatalogItem> =
            self.catalog.entries().filter(|e| e.object_kind() == kind).map(|e| e.to_item()).collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }

    /// A source's own progress collection is part of it, so it is not a dependent; what reads the
    /// progress collection is.
    fn dependents(&self, id: GlobalId) -> Vec<CatalogItem> {
        self.volatile.set(true);
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
        if name == STATEMENT_TIMESTAMP {
            self.volatile.set(true);
            return self.statement_micros.map(|micros| micros.to_string());
        }
        self.variables.get(name).cloned()
    }
}
