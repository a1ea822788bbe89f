//! `Row`, the one tuple type that flows between every layer.
//!
//! The representation is private so that it can later become a packed byte encoding without
//! touching the layers that use it.

use serde::{Deserialize, Serialize};

use crate::Datum;

/// An ordered tuple of datums.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Row {
    datums: Vec<Datum>,
}

impl Row {
    pub fn new(datums: Vec<Datum>) -> Self {
        Row { datums }
    }

    pub fn empty() -> Self {
        Row { datums: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.datums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datums.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Datum> {
        self.datums.get(index)
    }

    pub fn datums(&self) -> &[Datum] {
        &self.datums
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Datum> {
        self.datums.iter()
    }

    pub fn into_datums(self) -> Vec<Datum> {
        self.datums
    }

    pub fn push(&mut self, datum: Datum) {
        self.datums.push(datum);
    }

    /// A new row of the datums at `indices`, in that order.
    pub fn project(&self, indices: &[usize]) -> Row {
        Row { datums: indices.iter().map(|&i| self.datums[i].clone()).collect() }
    }

    /// The first `at` datums and the rest (all and none when `at` is past the end).
    pub fn split_at(self, at: usize) -> (Row, Row) {
        let mut datums = self.datums;
        let rest = datums.split_off(at.min(datums.len()));
        (Row { datums }, Row { datums: rest })
    }

    /// This row followed by `other`.
    pub fn concat(&self, other: &Row) -> Row {
        let mut datums = Vec::with_capacity(self.len() + other.len());
        datums.extend_from_slice(&self.datums);
        datums.extend_from_slice(&other.datums);
        Row { datums }
    }
}

impl From<Vec<Datum>> for Row {
    fn from(datums: Vec<Datum>) -> Self {
        Row { datums }
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row { datums: iter.into_iter().collect() }
    }
}

impl<'a> IntoIterator for &'a Row {
    type Item = &'a Datum;
    type IntoIter = std::slice::Iter<'a, Datum>;
    fn into_iter(self) -> Self::IntoIter {
        self.datums.iter()
    }
}
