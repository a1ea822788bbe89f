//! Scopes: the columns a FROM clause makes visible, with the table names that qualify them, and
//! the lookup rules (unqualified names must be unique; qualified names need a matching table).

use freshet_repr::{ColumnType, RelationDesc};
use sqlparser::ast;

use crate::SqlError;

/// One column of a FROM clause. Its position in `Scope::items` is its column in the relation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScopeItem {
    pub table: Option<String>,
    pub name: String,
    pub typ: ColumnType,
    /// Whether `*` includes it (false for the per-side copies of a USING column).
    pub in_star: bool,
    /// Whether an unqualified name finds it (false for the per-side copies of a USING column).
    pub unqualified: bool,
    /// A column of the enclosing query made available to a decorrelated subquery: names of the
    /// subquery's own FROM shadow it.
    pub correlated: bool,
}

/// The columns visible to expressions of one query level.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Scope {
    pub items: Vec<ScopeItem>,
}

impl ScopeItem {
    pub fn new(table: Option<String>, name: String, typ: ColumnType) -> Self {
        ScopeItem { table, name, typ, in_star: true, unqualified: true, correlated: false }
    }
}

impl Scope {
    pub fn from_desc(table: Option<&str>, desc: &RelationDesc) -> Self {
        let items =
            desc.iter().map(|(name, typ)| ScopeItem::new(table.map(str::to_string), name.to_string(), *typ)).collect();
        Scope { items }
    }

    pub fn arity(&self) -> usize {
        self.items.len()
    }

    /// The scope of `self` followed by `other` (a join's output).
    pub fn concat(mut self, other: Scope) -> Scope {
        self.items.extend(other.items);
        self
    }

    /// Whether some column is qualified by `table`.
    pub fn has_table(&self, table: &str) -> bool {
        self.items.iter().any(|i| i.table.as_deref() == Some(table))
    }

    /// Finds a column. `Ok(None)` when nothing matches; an error when an unqualified name is
    /// ambiguous.
    pub fn resolve(&self, table: Option<&str>, name: &str) -> Result<Option<usize>, SqlError> {
        match self.resolve_among(table, name, false)? {
            Some(i) => Ok(Some(i)),
            None => self.resolve_among(table, name, true),
        }
    }

    fn resolve_among(&self, table: Option<&str>, name: &str, correlated: bool) -> Result<Option<usize>, SqlError> {
        let mut found = None;
        for (i, item) in self.items.iter().enumerate().filter(|(_, item)| item.correlated == correlated) {
            let matches = match table {
                Some(t) => item.table.as_deref() == Some(t) && item.name == name,
                None => item.unqualified && item.name == name,
            };
            if matches {
                if found.is_some() {
                    let full = table.map_or_else(|| name.to_string(), |t| format!("{t}.{name}"));
                    return Err(SqlError::AmbiguousColumn(full));
                }
                found = Some(i);
            }
        }
        Ok(found)
    }

    /// The columns `*` (table `None`) or `t.*` expands to.
    pub fn star(&self, table: Option<&str>) -> Result<Vec<usize>, SqlError> {
        match table {
            None => Ok((0..self.items.len()).filter(|&i| self.items[i].in_star).collect()),
            Some(t) => {
                if !self.has_table(t) {
                    return Err(SqlError::UnknownRelation(t.to_string()));
                }
                // A USING column belongs to `t.*` through its per-side copy.
                Ok((0..self.items.len())
                    .filter(|&i| self.items[i].table.as_deref() == Some(t) && !self.items[i].correlated)
                    .collect())
            }
        }
    }

    /// The same columns as the enclosing query's columns seen from a decorrelated subquery.
    pub fn into_correlated(mut self) -> Scope {
        for item in &mut self.items {
            item.correlated = true;
            item.in_star = false;
        }
        self
    }

    /// Renames every column's table (an alias on a join or a derived table), and optionally the
    /// columns themselves (`AS t(a, b)`).
    pub fn with_alias(mut self, alias: &ast::TableAlias) -> Result<Scope, SqlError> {
        let table = normalize_ident(&alias.name);
        if alias.columns.len() > self.items.len() {
            return Err(SqlError::InvalidParameter(format!(
                "table \"{table}\" has {} columns available but {} columns specified",
                self.items.len(),
                alias.columns.len()
            )));
        }
        for (item, col) in self.items.iter_mut().zip(alias.columns.iter().map(Some).chain(std::iter::repeat(None))) {
            item.table = Some(table.clone());
            if let Some(col) = col {
                item.name = normalize_ident(&col.name);
            }
        }
        Ok(self)
    }
}

/// PostgreSQL folds unquoted identifiers to lower case.
pub(crate) fn normalize_ident(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The catalog name of a relation or function name in a query: `crate::names::object_name`, plus
/// `pg_catalog.` for functions; a name in an unknown schema is an unknown relation (42P01), as in
/// PostgreSQL.
pub(crate) fn object_name(name: &ast::ObjectName) -> Result<String, SqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize_ident).ok_or_else(|| SqlError::Unsupported(format!("name {p}"))))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [schema, item] | [_, schema, item] if schema == "pg_catalog" => Ok(item.clone()),
        _ => crate::names::object_name(name).map_err(|error| match error {
            SqlError::UnknownSchema(_) => SqlError::UnknownRelation(name.to_string()),
            other => other,
        }),
    }
}
