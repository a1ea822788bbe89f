//! Descriptions of relations: column types, names, and catalog ids.

use serde::{Deserialize, Serialize};

use crate::ScalarType;

/// The catalog id of a relation (table, source, view, materialized view, progress collection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GlobalId(pub u64);

impl std::fmt::Display for GlobalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "u{}", self.0)
    }
}

/// The type of one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnType {
    pub scalar_type: ScalarType,
    pub nullable: bool,
}

impl ColumnType {
    pub fn new(scalar_type: ScalarType, nullable: bool) -> Self {
        ColumnType { scalar_type, nullable }
    }
}

/// The types of a relation's columns, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelationType {
    pub columns: Vec<ColumnType>,
}

impl RelationType {
    pub fn new(columns: Vec<ColumnType>) -> Self {
        RelationType { columns }
    }

    pub fn arity(&self) -> usize {
        self.columns.len()
    }
}

/// A relation's column names beside its types.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelationDesc {
    pub typ: RelationType,
    pub names: Vec<String>,
}

impl RelationDesc {
    pub fn new(columns: Vec<(String, ColumnType)>) -> Self {
        let (names, types) = columns.into_iter().unzip();
        RelationDesc { typ: RelationType::new(types), names }
    }

    pub fn arity(&self) -> usize {
        self.names.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ColumnType)> {
        self.names.iter().map(String::as_str).zip(self.typ.columns.iter())
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}
